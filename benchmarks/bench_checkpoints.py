"""What writing a checkpoint after every epoch costs a large model, and that how often the
trainer writes them changes no result.

The trainer writes a checkpoint (weights, both optimizers, random streams, the best epoch's
weights) and best.pt after an epoch once ``train.checkpoint_seconds`` (default 60) have
passed since the last one, and always after the last epoch. This script trains each model
twice on the sparse movielens study's split (``sparse_study.yaml``: canonical split, text +
posters, the model's preset), one seed, a fixed number of epochs (no early stopping, so both
runs do the same work): once with ``train.checkpoint_seconds=0`` (a checkpoint after every
epoch, what fusionrec did before) and once with the default. Each run is its own process with
one thread, one after the other. It reports wall and CPU seconds per epoch of the whole
training (checkpoints and validation included), how many checkpoint and best.pt files were
written and how large a checkpoint is, and both runs' best validation and test Recall@20,
which must be equal: the checkpoints' cadence does not touch training.

    python benchmarks/bench_checkpoints.py [--models diffmm,mentor,lightgcn] [--epochs 12]
        [--threads 1] [--runs runs/bench-checkpoints] [--features-from DIR]
        [--spec benchmarks/sparse_study.yaml] [--out benchmarks/results/checkpoints.md]
        [--collect]
    # smoke test: --models lightgcn --epochs 2 --runs /tmp/c --out /tmp/c.md
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import yaml

from common import arms_parser, header, run_arms
from fusionrec.config import deep_merge
from fusionrec.io import write_json

SPEC = Path(__file__).with_name("sparse_study.yaml")
#: each run's ``train.checkpoint_seconds``: after every epoch, and the default
ARMS = {"every-epoch": 0.0, "default": None}
SUMMARY = "checkpoints.json"


def child(args: argparse.Namespace) -> None:
    """Train one model in this process with one checkpoint cadence; save what the table
    needs beside the run."""
    from fusionrec.train import experiment, trainer
    from fusionrec.train.study import study_configs

    spec = yaml.safe_load(args.spec.read_text())
    train: dict[str, Any] = {
        "epochs": args.epochs,
        "patience": args.epochs,
        "threads": args.threads,
    }
    if ARMS[args.arm] is not None:
        train["checkpoint_seconds"] = ARMS[args.arm]
    update: dict[str, Any] = {"models": [{"name": args.child}], "seeds": [1], "train": train}
    if args.features_from:
        from fusionrec.encoders.precomputed import exported_files

        names = spec["features"]["modalities"]
        update["features"] = {"precomputed": exported_files(args.features_from, names)}
    (config,) = study_configs(deep_merge(spec, update))
    writes: dict[str, int] = {trainer.CHECKPOINT: 0, trainer.BEST: 0}
    timed: dict[str, float] = {}
    save, train_model = trainer.save_torch, experiment.train_model

    def counted_save(path: Path, obj: Any) -> Path:
        name = Path(path).name
        writes[name] = writes.get(name, 0) + 1
        return save(path, obj)

    def timed_training(*a: Any, **k: Any) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        result = train_model(*a, **k)
        timed["wall"], timed["cpu"] = time.perf_counter() - wall, time.process_time() - cpu
        return result

    trainer.save_torch = counted_save
    experiment.train_model = timed_training
    run_dir = args.runs / f"{args.child}-{args.arm}"
    results = experiment.run_experiment(config, run_dir, progress=False, overwrite=True)
    record = results["per_seed"][0]
    summary = {
        "seconds_per_epoch": timed["wall"] / args.epochs,
        "cpu_seconds_per_epoch": timed["cpu"] / args.epochs,
        "checkpoints": writes[trainer.CHECKPOINT],
        "best_writes": writes[trainer.BEST],
        "checkpoint_mb": (run_dir / "seed-1" / trainer.CHECKPOINT).stat().st_size / 1e6,
        "valid_recall@20": record["valid"]["recall@20"],
        "test_recall@20": record["test"]["recall@20"],
    }
    write_json(run_dir / SUMMARY, summary)


def report(args: argparse.Namespace, runs: dict[str, dict[str, dict[str, Any]]]) -> str:
    dataset = yaml.safe_load(args.spec.read_text())["dataset"]["name"]
    lines = [
        header("How often to write checkpoints"),
        f"- data: {dataset}, `{args.spec.name}`'s split and features (text + posters), each "
        f"model's preset; seed 1; {args.epochs} epochs, validation after each, no early "
        f"stopping; {args.threads} torch thread(s); one process per run, one run at a time",
        "- every epoch: `train.checkpoint_seconds=0` (fusionrec's cadence before the "
        "default); default: at least 60 s apart, and after the last epoch",
        "- seconds per epoch: the whole of training (steps, validation, checkpoints) over "
        "the epochs",
        "",
        "| model | checkpoint MB | s/epoch every epoch | default | CPU s/epoch every epoch "
        "| default | saved (CPU) | checkpoints + best.pt written, every epoch / default "
        "| best valid Recall@20 every epoch / default | test Recall@20 every epoch / default |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for model, arms in runs.items():
        every, default = arms["every-epoch"], arms["default"]
        saved = 1 - default["cpu_seconds_per_epoch"] / every["cpu_seconds_per_epoch"]
        lines.append(
            f"| {model} | {every['checkpoint_mb']:.0f} | {every['seconds_per_epoch']:.2f} | "
            f"{default['seconds_per_epoch']:.2f} | {every['cpu_seconds_per_epoch']:.2f} | "
            f"{default['cpu_seconds_per_epoch']:.2f} | {saved:+.0%} | "
            f"{every['checkpoints']} + {every['best_writes']} / "
            f"{default['checkpoints']} + {default['best_writes']} | "
            f"{every['valid_recall@20']:.4f} / {default['valid_recall@20']:.4f} | "
            f"{every['test_recall@20']:.4f} / {default['test_recall@20']:.4f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = arms_parser(__doc__, list(ARMS), "diffmm,mentor,lightgcn", 12, SPEC,
                         "runs/bench-checkpoints", "checkpoints.md")  # fmt: skip
    run_arms(__file__, parser.parse_args(), list(ARMS), SUMMARY, child, report)


if __name__ == "__main__":
    main()
