"""Re-open a run directory: rebuild its model from the saved config, split and weights."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from fusionrec.config import ExperimentConfig, read_saved_config
from fusionrec.data import Dataset
from fusionrec.data.split import TEST, VALID
from fusionrec.errors import FusionrecError
from fusionrec.evaluate import Evaluator
from fusionrec.io import read_json
from fusionrec.models import build_model
from fusionrec.models.base import Recommender
from fusionrec.train.experiment import (
    Prepared,
    load_clean_dataset,
    prepare,
    split_dataset,
    split_evaluators,
    train_data,
    use_history,
)
from fusionrec.train.rundir import RESULTS
from fusionrec.train.trainer import (
    BEST,
    BEST_INFO,
    CHECKPOINT,
    evaluate_model,
    inference_device,
    load_checkpoint,
    load_weights,
)

log = logging.getLogger(__name__)


def run_config(run_dir: Path) -> ExperimentConfig:
    """The saved config of a run directory; a clear error when ``run_dir`` is not one."""
    if (run_dir / "index").is_dir() and (run_dir / "manifest.json").exists():
        raise FusionrecError(
            f"{run_dir} is a serving bundle, not a run directory: open it with "
            "fusionrec.load_bundle (or serve it with fusionrec serve)"
        )
    if not (run_dir / "config.yaml").exists():
        raise FusionrecError(f"{run_dir} is not a run directory (no config.yaml)")
    return read_saved_config(run_dir / "config.yaml")


def load_run_model(
    run_dir: str | Path, seed: int | None = None, prep: Prepared | None = None
) -> tuple[Recommender, Prepared]:
    """The trained model of ``seed`` (default: the first seed) and the run's prepared data
    (``prep``, when the caller already has it, saves reading data and features again)."""
    run_dir = Path(run_dir)
    cfg = run_config(run_dir)
    seed = cfg.seeds[0] if seed is None else seed
    if seed not in cfg.seeds:
        raise FusionrecError(f"{run_dir} has no seed {seed}; its seeds are {cfg.seeds}")
    prep = prep or prepare(cfg, run_dir, progress=False)
    device = inference_device(cfg.train.device)
    data = train_data(prep, cfg.model.name, device)
    model = build_model(cfg.model.name, data, cfg.model.params)
    weights = run_dir / f"seed-{seed}" / BEST
    if model.trainable:
        if not weights.exists():
            raise FusionrecError(f"{weights} is missing; train the run first")
        fix = (
            f"retrain: fusionrec train -c {run_dir / 'config.yaml'} --run-dir {run_dir} --overwrite"
        )
        load_weights(model, load_checkpoint(weights, device, fix), weights, fix)
    else:
        model.fit(data)
    use_history(model, prep, TEST)  # the histories it was scored on test from
    return model, prep


def training_state(seed_dir: Path) -> str:
    """Where a seed's weights come from: 'best.pt from epoch 7, last checkpoint at epoch 9'."""
    if not (seed_dir / BEST).exists():
        return "not trained yet (no best.pt)"
    try:
        best = f"best.pt from epoch {read_json(seed_dir / BEST_INFO)['epoch']}"
    except (OSError, ValueError, KeyError):
        best = "best.pt from an unknown epoch"
    if not (seed_dir / CHECKPOINT).exists():
        return f"{best}, no checkpoint"
    try:
        last = load_checkpoint(seed_dir / CHECKPOINT, "cpu", "")["epoch"]
    except (FusionrecError, KeyError, TypeError):
        return f"{best}, {CHECKPOINT} unreadable"
    return f"{best}, last checkpoint at epoch {last}"


def _scored_seeds(run_dir: str | Path, part: str) -> Iterator[tuple[int, Recommender, Evaluator]]:
    """Every trained seed's model with the evaluator of ``part`` (test or valid), built as in
    training, the data and features prepared once. Warns when the run never finished (no
    results.json), saying from which epoch each seed's weights come, and skips seeds not
    trained yet."""
    run_dir = Path(run_dir)
    cfg = run_config(run_dir)
    seeds = cfg.seeds
    if not (run_dir / RESULTS).exists():
        states = {s: training_state(run_dir / f"seed-{s}") for s in cfg.seeds}
        log.warning(
            "%s is incomplete (no %s: training was interrupted or is still running); %s",
            run_dir,
            RESULTS,
            "; ".join(f"seed {s}: {state}" for s, state in states.items()),
        )
        seeds = [s for s in cfg.seeds if (run_dir / f"seed-{s}" / BEST).exists()] or seeds
    device = inference_device(cfg.train.device)
    prep = prepare(cfg, run_dir, progress=False)
    valid_eval, test_eval, _ = split_evaluators(prep, cfg, device)
    for seed in seeds:
        model, _ = load_run_model(run_dir, seed, prep)
        use_history(model, prep, TEST if part == "test" else VALID)
        yield seed, model, test_eval if part == "test" else valid_eval


def run_split_evaluator(run_dir: str | Path, part: str = "test") -> tuple[Evaluator, Dataset]:
    """The evaluator of a run's ``part`` (test or valid), built as in training, with the
    run's dataset: no model and no features, for scoring lists made elsewhere on the split
    the run was scored on."""
    run_dir = Path(run_dir)
    cfg = run_config(run_dir)
    dataset = load_clean_dataset(cfg)
    split = split_dataset(cfg, dataset, run_dir)
    prep = Prepared(dataset, split, None)
    valid_eval, test_eval, _ = split_evaluators(prep, cfg, inference_device(cfg.train.device))
    return (test_eval if part == "test" else valid_eval), dataset


def rescore_run(run_dir: str | Path, part: str = "test") -> dict[int, dict[str, float]]:
    """Metrics of every trained seed on ``part`` (test or valid), evaluated as in training."""
    return {seed: evaluate_model(model, ev) for seed, model, ev in _scored_seeds(run_dir, part)}


@dataclass
class PerUser:
    """Each evaluated user's metrics per seed of a run (``Evaluator.per_user``)."""

    users: np.ndarray  # the evaluated users' indices, rows of every array below
    target: sp.csr_matrix  # the held-out interactions they were scored on
    seeds: dict[int, dict[str, np.ndarray]]


def per_user_metrics(run_dir: str | Path, part: str = "test") -> PerUser:
    """Every trained seed's metrics per user on ``part``, scored as in training: what a paired
    comparison of two runs on the same split needs."""
    users, target, seeds = None, None, {}
    for seed, model, evaluator in _scored_seeds(run_dir, part):
        model.eval()  # a fresh model: graph models propagate once, nothing to restore
        seeds[seed] = evaluator.per_user(model.score)
        users, target = evaluator.users, evaluator.target
    if users is None or target is None:
        raise FusionrecError(f"{run_dir} has no trained seed to score")
    return PerUser(users, target, seeds)
