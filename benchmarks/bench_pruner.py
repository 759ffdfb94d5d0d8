"""What the median pruner saves, and what it costs in the setting chosen.

``fusionrec tune`` with ``search.pruner: median`` stops a trial once its best validation score
is below the median of the finished trials' at the same epoch. This script runs one model's
search of the dense movielens study (``movielens_study.yaml``: canonical split, 300 epochs,
patience 20, the model's shipped space, 20 trials) without the pruner, with its defaults
(five trials finish first, ten epochs before a trial may be stopped) and with a 50-epoch
warm-up, and reports for each the epochs its trials trained, how many trials were stopped,
the setting chosen on validation and that setting's test metrics over the study's three
seeds, scored once.

Cost is counted in training epochs, not seconds: one epoch of MF-BPR costs the same whichever
learning rate and regulariser a trial has, and an epoch count does not depend on what else
the machine runs (this 2-core machine is shared). Each search resumes from ``--runs``.

    python benchmarks/bench_pruner.py [--model mf-bpr] [--trials 20] [--threads 1]
        [--runs runs/bench-pruner] [--out benchmarks/results/pruner.md]
    # smoke test: --trials 7 --epochs 12 --runs /tmp/p --out /tmp/p.md
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch
import yaml

from bench_movielens import SPEC
from common import RESULTS, header, mean_std, write_result
from fusionrec.train.study import study_configs
from fusionrec.train.tune import tune

#: each arm's search settings: no pruner, the median pruner with its defaults, and with a
#: longer warm-up (slow learners, such as MF-BPR at its best learning rates, lag early)
ARMS = {
    "none": {},
    "median": {"pruner": "median"},
    "median, 50 epochs": {"pruner": "median", "prune_after_epochs": 50},
}
SHOWN = ("recall@20", "ndcg@20")


def search(
    model: str, arm: str, trials: int, threads: int, runs: Path, epochs: int | None
) -> dict[str, Any]:
    """One arm's search (resumed if it ran before) and its outcome."""
    spec = yaml.safe_load(SPEC.read_text())
    # schema defaults under the searched space, as the study's searches ran
    cfg = next(c for c in study_configs(spec, presets=False) if c.model.name == model)
    train = cfg.train.model_copy(
        update={"threads": threads, **({"epochs": epochs} if epochs else {})}
    )
    search_section = {**(cfg.search or {}), "n_trials": trials, **ARMS[arm]}
    cfg = cfg.model_copy(update={"train": train, "search": search_section})
    folder = runs / arm.replace(", ", "-").replace(" ", "-")
    summary = tune(cfg, folder, progress=False, resume=True)
    final = json.loads((folder / "best" / "results.json").read_text())
    records = summary["trials"]
    return {
        "trials": len(records),
        "stopped": sum(bool(t.get("pruned")) for t in records),
        "epochs": sum(t["epochs"] for t in records),
        "best_valid": summary["best_valid"],
        "chosen": summary["best_params"],
        "test": {m: mean_std([s["test"][m] for s in final["per_seed"]]) for m in SHOWN},
        "seeds": len(final["per_seed"]),
    }


def fmt(stat: tuple[float, float]) -> str:
    return f"{stat[0]:.4f} ± {stat[1]:.4f}"


def setting(chosen: dict[str, Any]) -> str:
    def shown(v: Any) -> str:
        return f"{v:.3g}" if isinstance(v, float) else str(v)

    return ", ".join(f"{k.rsplit('.', 1)[-1]}={shown(v)}" for k, v in chosen.items())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="mf-bpr")
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=Path, default=Path("runs/bench-pruner"))
    ap.add_argument("--out", type=Path, default=RESULTS / "pruner.md")
    ap.add_argument("--epochs", type=int, default=None, help="smoke test: fewer epochs")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    runs = args.runs / args.model
    out = {
        arm: search(args.model, arm, args.trials, args.threads, runs, args.epochs) for arm in ARMS
    }
    rows = [
        "| pruner | trials | stopped | epochs trained by the trials | best valid recall@20 "
        "| chosen setting | test recall@20 | test ndcg@20 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for arm, r in out.items():
        rows.append(
            f"| {arm} | {r['trials']} | {r['stopped']} | {r['epochs']} | {r['best_valid']:.4f} "
            f"| {setting(r['chosen'])} | {fmt(r['test']['recall@20'])} "
            f"| {fmt(r['test']['ndcg@20'])} |"
        )
    base = out["none"]
    verdicts = [
        f"- pruner {arm}: **{1 - r['epochs'] / base['epochs']:.0%} fewer epochs** than without, "
        + (
            "the same setting chosen"
            if r["chosen"] == base["chosen"]
            else f"another setting chosen ({r['best_valid'] / base['best_valid'] - 1:+.1%} "
            "validation Recall@20 against the unpruned search's choice)"
        )
        for arm, r in out.items()
        if arm != "none"
    ]
    text = header(f"Median pruner: {args.model}'s search on movielens-100k-mm, with and without")
    text += (
        f"- study: `{SPEC.name}` (canonical split, up to {args.epochs or 300} epochs, patience 20 "
        "on validation "
        f"Recall@20), {args.model}'s shipped space, {args.trials} trials, TPE seed 0; the chosen "
        f"setting trained with the study's {out['none']['seeds']} seeds, test scored once each "
        "(mean ± sample std)\n"
        "- pruner `median`: its defaults (`prune_after_trials` 5, `prune_after_epochs` 10); "
        "`median, 50 epochs`: `prune_after_epochs` 50\n"
        f"- {args.threads} torch thread(s); cost counted in training epochs (the best setting's "
        "seed runs are not counted)\n\n" + "\n".join(rows) + "\n\n" + "\n".join(verdicts) + "\n"
    )
    write_result(args.out, text)
    print(text)


if __name__ == "__main__":
    main()
