"""Re-open a run directory: rebuild its model from the saved config, split and weights."""

from __future__ import annotations

from pathlib import Path

import torch

from fusionrec.config import ExperimentConfig, load_config
from fusionrec.errors import FusionrecError
from fusionrec.models import TrainData, build_model
from fusionrec.models.base import Recommender
from fusionrec.train.experiment import Prepared, item_labels, prepare, split_evaluators
from fusionrec.train.trainer import BEST, evaluate_model, resolve_device


def load_run_model(
    run_dir: str | Path, seed: int | None = None, prep: Prepared | None = None
) -> tuple[Recommender, Prepared]:
    """The trained model of ``seed`` (default: the first seed) and the run's prepared data
    (``prep``, when the caller already has it, saves reading data and features again)."""
    run_dir = Path(run_dir)
    cfg = _run_config(run_dir)
    seed = cfg.seeds[0] if seed is None else seed
    prep = prep or prepare(cfg, run_dir, progress=False)
    device = resolve_device(cfg.train.device)
    train = prep.split.matrix(prep.dataset, 0)
    data = TrainData(
        prep.dataset.n_users,
        prep.dataset.n_items,
        train,
        prep.features,
        item_labels(prep.dataset),
        device,
    )
    model = build_model(cfg.model.name, data, cfg.model.params)
    weights = run_dir / f"seed-{seed}" / BEST
    if model.trainable:
        if not weights.exists():
            raise FusionrecError(f"{weights} is missing; train the run first")
        model.load_state_dict(torch.load(weights, map_location=device, weights_only=False))
    else:
        model.fit(data)
    return model, prep


def rescore_run(run_dir: str | Path, part: str = "test") -> dict[int, dict[str, float]]:
    """Metrics of every seed's saved model on ``part`` (test or valid), evaluated as in
    training; the data and features are prepared once for all seeds."""
    cfg = _run_config(Path(run_dir))
    device = resolve_device(cfg.train.device)
    prep = prepare(cfg, Path(run_dir), progress=False)
    valid_eval, test_eval, _ = split_evaluators(prep, cfg, device)
    out = {}
    for seed in cfg.seeds:
        model, _ = load_run_model(run_dir, seed, prep)
        out[seed] = evaluate_model(model, test_eval if part == "test" else valid_eval)
    return out


def _run_config(run_dir: Path) -> ExperimentConfig:
    if not (run_dir / "config.yaml").exists():
        raise FusionrecError(f"{run_dir} is not a run directory (no config.yaml)")
    return load_config(run_dir / "config.yaml")
