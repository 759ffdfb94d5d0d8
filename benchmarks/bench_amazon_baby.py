"""Reproduce the published Amazon-Baby full-ranking numbers of MF-BPR and LightGCN.

Protocol (as MMRec): embedding size 64, batch 2048, Adam, every item ranked, training items
masked (and validation items when scoring test), early stopping on validation Recall@20 with
patience 20. A small grid per model is searched on validation only, with the first seed and
test never scored; the chosen setting is then trained with every seed and test is scored once
per seed: mean ± sample std. Targets (issue #2): MF-BPR test Recall@20 >= 0.0560, LightGCN
>= 0.0735 (on the mean).

    python benchmarks/bench_amazon_baby.py [--models mf-bpr,lightgcn] [--seeds 1,2,3]
        [--threads 1] [--out FILE]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from common import RESULTS, header, mean_std, write_json_result, write_result
from fusionrec.config import validate_config
from fusionrec.train.experiment import prepare, run_seed

GRIDS = {
    "mf-bpr": [{"reg_weight": r} for r in (1e-2, 1e-3, 1e-4)],
    "lightgcn": [{"reg_weight": 1e-4, "n_layers": n} for n in (2, 3, 4)],
}
TITLE = "Amazon-Baby reproduction: MF-BPR and LightGCN"
TARGETS = {"mf-bpr": 0.0560, "lightgcn": 0.0735}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", default="mf-bpr,lightgcn")
    ap.add_argument("--epochs", type=int, default=1000)
    ap.add_argument("--patience", type=int, default=20)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--grid", choices=["full", "first"], default="full")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seeds", default="1,2,3", help="the grid runs on the first")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    ap.add_argument("--out", type=Path, default=RESULTS / "amazon_baby.md")
    args = ap.parse_args()
    seeds = [int(x) for x in args.seeds.split(",")]
    if args.threads:  # the trainer sets it again; here so that the header says it too
        torch.set_num_threads(args.threads)

    base = {
        "dataset": {"name": "amazon-baby"},
        "split": {"method": "predefined"},
        "train": {
            "epochs": args.epochs,
            "patience": args.patience,
            "lr": args.lr,
            "batch_size": 2048,
            "device": args.device,
            "threads": args.threads or None,
        },
        "evaluate": {"ks": [10, 20, 50], "batch_users": 8192},
    }
    prep = prepare(validate_config(base), progress=False)
    lines = [""]  # the header is made at each write: its date and load are the write's
    lines += [
        "| model | setting (chosen on valid) | valid R@20 | test R@10 | test R@20 | "
        "test N@10 | test N@20 | target R@20 (mean) | best epochs | s/epoch | s/eval | "
        "peak MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    raw = {}
    for name in args.models.split(","):
        grid = GRIDS[name] if args.grid == "full" else GRIDS[name][:1]
        trials = []
        for params in grid:
            cfg = validate_config({**base, "model": {"name": name, "params": params}})
            t0 = time.perf_counter()
            rec = run_seed(cfg, prep, seeds[0], None, progress=False, evaluate_test=False)
            rec["wall_seconds"] = time.perf_counter() - t0
            rec["params"] = params
            trials.append(rec)
            print(
                name,
                params,
                "valid R@20 {:.4f}".format(rec["valid"]["recall@20"]),
                "epochs",
                rec["epochs"],
                "{:.1f}s".format(rec["wall_seconds"]),
                flush=True,
            )
            raw[name] = {"trials": trials}
            write(args.out, lines, raw, done=False)
        chosen = max(trials, key=lambda r: r["valid"]["recall@20"])["params"]
        cfg = validate_config({**base, "model": {"name": name, "params": chosen}})
        runs = [run_seed(cfg, prep, seed, None, progress=False) for seed in seeds]
        raw[name] = {"trials": trials, "chosen": chosen, "seeds": runs}

        def stat(part: str, key: str, runs: list = runs) -> str:
            mean, std = mean_std([r[part][key] for r in runs])
            return f"{mean:.4f} ± {std:.4f}"

        mean_r20 = mean_std([r["test"]["recall@20"] for r in runs])[0]
        ok = "met" if mean_r20 >= TARGETS[name] else "NOT met"
        lines.append(
            f"| {name} | {chosen} | {stat('valid', 'recall@20')} | {stat('test', 'recall@10')} | "
            f"{stat('test', 'recall@20')} | {stat('test', 'ndcg@10')} | "
            f"{stat('test', 'ndcg@20')} | {TARGETS[name]} ({ok}) | "
            f"{[r['best_epoch'] for r in runs]} | "
            f"{sum(r['seconds_per_epoch'] for r in runs) / len(runs):.2f} | "
            f"{sum(r['seconds_per_eval'] for r in runs) / len(runs):.2f} | "
            f"{max(r['peak_memory_mb'] for r in runs):.0f} |"
        )
        write(args.out, lines, raw, done=name == args.models.split(",")[-1])
    print("\n".join(lines))


def write(out: Path, lines: list[str], raw: dict, done: bool) -> None:
    """Rewrite the result files after every trial, so an interrupted run keeps its numbers;
    until the last model's seeds are in, the file says it is incomplete."""
    status = [] if done else ["- INCOMPLETE: written mid-run (the run stopped or is still going)"]
    body = [header(TITLE), *status, *lines] + [
        "",
        "Grid (first seed, validation Recall@20 per setting; test not scored):",
        "",
    ]
    for model, r in raw.items():
        for trial in r["trials"]:
            body.append(
                f"- {model} {trial['params']}: valid R@20 "
                f"{trial['valid']['recall@20']:.4f}, epochs {trial['epochs']}, "
                f"{trial['wall_seconds']:.0f} s"
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    write_result(out, "\n".join(body))
    write_json_result(out.with_suffix(".json"), raw, indent=2)


if __name__ == "__main__":
    main()
