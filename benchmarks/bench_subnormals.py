"""What flushing subnormal floats saves in training, and that it changes no result.

fusionrec trains with subnormal floats (below 1.2e-38) flushed to zero
(``fusionrec.train.subnormals``): all-MiniLM-L6-v2 leaves two of its 384 dimensions near
1e-33 for every text, so once gradients shrink, the weight gradient of a text projection is
a product of subnormals, each of which costs an x86 core many cycles. This script trains each
model twice on the dense movielens study's split (``movielens_study.yaml``: canonical split,
text + posters, the model's preset), one seed, a fixed number of epochs (no early stopping,
so both runs do the same work), once as fusionrec trains and once with the flush disabled
(``torch.set_flush_denormal`` replaced by a no-op in that process), each in its own process
with one thread, one after the other. It reports the CPU seconds per epoch over each third
of the run (the cost grows as gradients shrink) and both runs' best validation and test
Recall@20, which should agree to rounding.

    python benchmarks/bench_subnormals.py [--models mentor,mtl-fusion,lightgcn] [--epochs 60]
        [--threads 1] [--runs runs/bench-subnormals] [--features-from DIR]
        [--spec benchmarks/sparse_study.yaml] [--set train.lr=0.0033 ...]
        [--out benchmarks/results/subnormals.md] [--collect]

``--spec`` trains on another study's data and split (the sparse one: half the movies have no
poster and many are rarely rated, so many rows get tiny gradients); ``--set`` fixes settings
(``model.params.<key>=`` for the model's, other keys for the run's) instead of the preset's.
    # smoke test: --models lightgcn --epochs 3 --runs /tmp/s --out /tmp/s.md
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np
import torch
import yaml

from bench_movielens import SPEC
from common import arms_parser, header, run_arms
from fusionrec.config import deep_merge, parse_override
from fusionrec.io import write_json

#: each run's flush setting: as fusionrec trains, and with the flush disabled
ARMS = ("flushed", "kept")
#: what a run leaves for the table, in its run directory
SUMMARY = "subnormals.json"


def child(args: argparse.Namespace) -> None:
    """Train one model in this process with one flush setting; print what the parent needs."""
    if args.arm == "kept":  # the trainer's scope then cannot turn the flush on
        torch.set_flush_denormal = lambda mode: True
    from fusionrec.train import experiment
    from fusionrec.train.study import study_configs
    from fusionrec.train.subnormals import flushing

    spec = yaml.safe_load(args.spec.read_text())
    params: dict[str, Any] = {}
    for setting in args.set:
        override = parse_override(setting)
        if setting.startswith("model.params."):
            params = deep_merge(params, override["model"]["params"])
        else:
            spec = deep_merge(spec, override)
    update: dict[str, Any] = {
        "models": [{"name": args.child, "params": params}],
        "seeds": [1],
        "train": {"epochs": args.epochs, "patience": args.epochs, "threads": args.threads},
    }
    if args.features_from:
        from fusionrec.encoders.precomputed import exported_files

        names = spec["features"]["modalities"]
        update["features"] = {"precomputed": exported_files(args.features_from, names)}
    (config,) = study_configs(deep_merge(spec, update))
    seen: list[bool] = []  # the flush mode of each training step
    build = experiment.build_model

    def build_and_count(*a: Any, **k: Any) -> Any:
        model = build(*a, **k)
        loss = model.calculate_loss

        def counted(batch: Any) -> Any:
            seen.append(flushing())
            return loss(batch)

        model.calculate_loss = counted
        return model

    experiment.build_model = build_and_count
    run_dir = args.runs / f"{args.child}-{args.arm}"
    results = experiment.run_experiment(config, run_dir, progress=False, overwrite=True)
    history = json.loads((run_dir / "seed-1" / "history.json").read_text())
    record = results["per_seed"][0]
    summary = {
        "cpu_seconds": [h["cpu_seconds"] for h in history],
        "flushed_steps": float(np.mean(seen)),
        "valid_recall@20": record["valid"]["recall@20"],
        "test_recall@20": record["test"]["recall@20"],
        "best_epoch": record["best_epoch"],
    }
    write_json(run_dir / SUMMARY, summary)


def thirds(seconds: list[float]) -> list[float]:
    return [float(np.mean(part)) for part in np.array_split(np.asarray(seconds), 3)]


def report(args: argparse.Namespace, runs: dict[str, dict[str, dict[str, Any]]]) -> str:
    e = len(next(iter(runs.values()))["flushed"]["cpu_seconds"])  # epochs the runs trained
    spans = [f"{p[0] + 1}-{p[-1] + 1}" for p in np.array_split(np.arange(e), 3)]
    dataset = yaml.safe_load(args.spec.read_text())["dataset"]["name"]
    settings = f" with {', '.join(f'`{x}`' for x in args.set)}" if args.set else ""
    lines = [
        header("Training with subnormal floats flushed to zero"),
        f"- data: {dataset}, `{args.spec.name}`'s split and features (text + posters), each "
        f"model's preset{settings}; seed 1; {e} epochs, no early stopping; "
        f"{args.threads} torch thread(s); one process per run, one run at a time",
        "- flushed: as fusionrec trains (`fusionrec.train.subnormals`); kept: the same run "
        "with `torch.set_flush_denormal` a no-op in its process; 'steps flushed' is the "
        "share of training steps that ran with the flush on",
        "",
        f"| model | CPU s/epoch kept, epochs {' / '.join(spans)} | flushed | CPU saved, whole run "
        "| steps flushed (kept / flushed) | best valid Recall@20 kept / flushed | test "
        "Recall@20 kept / flushed |",
        "|---|---|---|---|---|---|---|",
    ]
    for model, arms in runs.items():
        kept, flushed = (thirds(arms[a]["cpu_seconds"]) for a in ("kept", "flushed"))
        saving = 1 - np.sum(arms["flushed"]["cpu_seconds"]) / np.sum(arms["kept"]["cpu_seconds"])
        lines.append(
            f"| {model} | {' / '.join(f'{x:.2f}' for x in kept)} | "
            f"{' / '.join(f'{x:.2f}' for x in flushed)} | {saving:+.0%} | "
            f"{arms['kept']['flushed_steps']:.0%} / {arms['flushed']['flushed_steps']:.0%} | "
            f"{arms['kept']['valid_recall@20']:.4f} / {arms['flushed']['valid_recall@20']:.4f} | "
            f"{arms['kept']['test_recall@20']:.4f} / {arms['flushed']['test_recall@20']:.4f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = arms_parser(__doc__, list(ARMS), "mentor,mtl-fusion,lightgcn", 60, SPEC,
                         "runs/bench-subnormals", "subnormals.md")  # fmt: skip
    parser.add_argument("--set", action="append", default=[], help="KEY=VALUE, repeatable")
    args = parser.parse_args()
    if args.epochs < 3:
        parser.error("--epochs must be at least 3: the table splits each run in thirds")
    settings = [f"--set={setting}" for setting in args.set]
    run_arms(__file__, args, list(ARMS), SUMMARY, child, report, settings)


if __name__ == "__main__":
    main()
