"""Quality check of VBPR, FREEDOM, LATTICE and BM3 against LightGCN on movielens-100k-mm.

Random 8:1:1 split (seed 2026) of the cleaned dataset, real text (all-MiniLM-L6-v2) and
image (EfficientNet-Lite0) features from ``fusionrec.encoders``, early stopping on validation
Recall@20, test scored once with the best-validation weights.

    .venv/bin/python benchmarks/bench_mm_models_a.py                       # all models
    .venv/bin/python benchmarks/bench_mm_models_a.py --models freedom --set freedom.dropout=0.9

Results are appended, one row per run, to ``benchmarks/results/mm_models_a.md`` (and a JSON
line to ``mm_models_a.jsonl``) as soon as each model finishes.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import time
from pathlib import Path
from typing import Any

import torch

from fusionrec.config import TrainConfig
from fusionrec.data import clean, load_dataset, make_split
from fusionrec.data.split import TEST, TRAIN, VALID
from fusionrec.encoders import build_item_features, default_cache_dir
from fusionrec.evaluate import Evaluator
from fusionrec.models import TrainData, build_model
from fusionrec.train.trainer import evaluate_model, seed_everything, train_model

RESULTS = Path(__file__).parent / "results"
DEFAULT_MODELS = ["lightgcn", "vbpr", "freedom", "lattice", "bm3"]


def parse_overrides(items: list[str]) -> dict[str, dict[str, Any]]:
    """``model.key=value`` strings -> {model: {key: value}} (values parsed as JSON if they can)."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, _, raw = item.partition("=")
        model, _, name = key.partition(".")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out.setdefault(model, {})[name] = value
    return out


def prepare(dataset_name: str, modalities: list[str], cache_dir: Path, seed: int):
    dataset = clean(load_dataset(dataset_name))
    split = make_split(dataset, "random", seed=seed)
    train, valid, test = (split.matrix(dataset, p) for p in (TRAIN, VALID, TEST))
    t0 = time.perf_counter()
    features = build_item_features(
        dataset, modalities=modalities, cache_dir=cache_dir, progress=False
    )
    logging.info("features in %.1fs: %s", time.perf_counter() - t0, features.summary())
    data = TrainData(dataset.n_users, dataset.n_items, train, features)
    valid_eval = Evaluator(valid, train, ks=(10, 20, 50))
    test_eval = Evaluator(test, train + valid, ks=(10, 20, 50))
    return data, valid_eval, test_eval


def run_one(name: str, params: dict[str, Any], data, valid_eval, test_eval, args) -> dict:
    # registers the model even before the package __init__ lists its module
    importlib.import_module(f"fusionrec.models.{name}")
    seed_everything(args.seed)
    model = build_model(name, data, params)
    cfg = TrainConfig(
        epochs=args.epochs,
        patience=args.patience,
        lr=args.lr.get(name, 1e-3),
        batch_size=2048,
        seed=args.seed,
        threads=args.threads,
        metric="recall@20",
    )
    t0 = time.perf_counter()
    result = train_model(model, data, valid_eval, cfg, progress=False)
    wall = time.perf_counter() - t0
    test = evaluate_model(model, test_eval)
    valid = result.best_valid
    return {
        "model": name,
        "params": params,
        "lr": cfg.lr,
        "valid_recall@20": valid["recall@20"],
        "valid_ndcg@20": valid["ndcg@20"],
        "test_recall@20": test["recall@20"],
        "test_ndcg@20": test["ndcg@20"],
        "seconds_per_epoch": result.seconds_per_epoch,
        "seconds_per_eval": result.seconds_per_eval,
        "epochs": result.epochs_run,
        "best_epoch": result.best_epoch,
        "wall_seconds": wall,
        "threads": torch.get_num_threads(),
    }


def append_row(row: dict, md: Path) -> None:
    md.parent.mkdir(parents=True, exist_ok=True)
    if not md.exists():
        md.write_text(
            "# Multimodal models A on movielens-100k-mm (random 8:1:1, seed 2026)\n\n"
            "| model | params | lr | valid R@20 | valid N@20 | test R@20 | test N@20 "
            "| s/epoch | epochs (best) |\n"
            "|---|---|---|---|---|---|---|---|---|\n"
        )
    params = ", ".join(f"{k}={v}" for k, v in row["params"].items()) or "defaults"
    line = (
        f"| {row['model']} | {params} | {row['lr']:g} | {row['valid_recall@20']:.4f} "
        f"| {row['valid_ndcg@20']:.4f} | {row['test_recall@20']:.4f} "
        f"| {row['test_ndcg@20']:.4f} | {row['seconds_per_epoch']:.2f} "
        f"| {row['epochs']} ({row['best_epoch']}) |\n"
    )
    with md.open("a") as fh:
        fh.write(line)
    with md.with_suffix(".jsonl").open("a") as fh:
        fh.write(json.dumps(row) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="movielens-100k-mm")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--modalities", default="text,image")
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--patience", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    parser.add_argument("--set", action="append", default=[], help="model.param=value")
    parser.add_argument("--lr", action="append", default=[], help="model=lr")
    parser.add_argument("--out", type=Path, default=RESULTS / "mm_models_a.md")
    args = parser.parse_args()
    args.lr = {k: float(v) for k, _, v in (s.partition("=") for s in args.lr)}
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    overrides = parse_overrides(args.set)
    data, valid_eval, test_eval = prepare(
        args.dataset, args.modalities.split(","), args.cache_dir, args.seed
    )
    for name in args.models.split(","):
        row = run_one(name, overrides.get(name, {}), data, valid_eval, test_eval, args)
        append_row(row, args.out)
        print(json.dumps({k: v for k, v in row.items()}, default=float), flush=True)


if __name__ == "__main__":
    main()
