"""Compare two finished runs on the same split, paired over the evaluated users
(``fusionrec compare``): is a model's lead real, or within what users and seeds vary by?"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fusionrec.errors import FusionrecError
from fusionrec.evaluate.significance import paired_difference
from fusionrec.io import read_json
from fusionrec.train.reload import PerUser, per_user_metrics, run_config


def seed_mean(scored: PerUser, metric: str, run: Path | str) -> np.ndarray:
    """Each user's ``metric`` averaged over the run's seeds, in float64: sums of a few float32
    values are exact there, so two runs level on a user stay exactly level (float32 sums in
    another order would count such users as better or worse)."""
    first = next(iter(scored.seeds.values()))
    if metric not in first:
        known = sorted(k for k in first if "@" in k)
        raise FusionrecError(f"{run} has no metric '{metric}'; it was scored with {known}")
    rows = np.stack([values[metric] for values in scored.seeds.values()]).astype(np.float64)
    return rows.mean(axis=0)


def _same_split(run_a: Path, run_b: Path) -> bool:
    """Both runs labelled every interaction alike (train, valid and test, not only the
    scored part: a model trained on more data is not the same experiment) and ranked the same
    candidates (a cold-items split ranks only its withheld items, the same labels read as a
    predefined split rank the whole catalogue)."""
    import pandas as pd

    frames, candidates = [], []
    for run in (run_a, run_b):
        frame = pd.read_parquet(run / "split.parquet").astype({"user_id": str, "item_id": str})
        frames.append(frame.sort_values(["user_id", "item_id", "label"]).reset_index(drop=True))
        cold = read_json(run / "split.json").get("cold_item_ids")
        candidates.append(None if cold is None else sorted(map(str, cold)))
    return frames[0].equals(frames[1]) and candidates[0] == candidates[1]


def compare_runs(
    run_a: str | Path,
    run_b: str | Path,
    metrics: list[str] | tuple[str, ...] = ("recall@20", "ndcg@20"),
    part: str = "test",
) -> dict[str, dict[str, Any]]:
    """Per metric: both runs' means and the paired statistics of a minus b
    (``fusionrec.evaluate.significance.paired_difference``). The runs must have scored the
    same users on the same held-out interactions (the same dataset and split)."""
    run_a, run_b = Path(run_a), Path(run_b)
    configs = [run_config(run) for run in (run_a, run_b)]  # both are runs, before scoring
    repeat = [cfg.evaluate.repeat for cfg in configs]
    if repeat[0] != repeat[1]:
        masked, unmasked = (run_a, run_b) if repeat[1] else (run_b, run_a)
        raise FusionrecError(
            f"{unmasked} ranks the items users already have (evaluate.repeat: true) and "
            f"{masked} masks them: their metrics measure different tasks; train both with "
            "the same evaluate.repeat"
        )
    a, b = per_user_metrics(run_a, part), per_user_metrics(run_b, part)
    same = a.target.shape == b.target.shape and (a.target != b.target).nnz == 0
    if not same or not np.array_equal(a.users, b.users) or not _same_split(run_a, run_b):
        raise FusionrecError(
            f"{run_a} and {run_b} were not trained and scored on the same split: a paired "
            "comparison needs the same dataset, split and ranked items (copy the first run's "
            "split.parquet and split.json into the second run's directory before training it, "
            "or give both split.method=predefined with one split file)"
        )
    return paired_metrics(a, b, metrics, (run_a, run_b))


def paired_metrics(
    a: PerUser,
    b: PerUser,
    metrics: list[str] | tuple[str, ...],
    names: tuple[Path | str, Path | str],
) -> dict[str, dict[str, Any]]:
    """Per metric: both sides' means and the paired statistics of a minus b, for two
    answers scored over the same users (``names`` say which in errors)."""
    out = {}
    for metric in metrics:
        ma, mb = seed_mean(a, metric, names[0]), seed_mean(b, metric, names[1])
        out[metric] = {
            "a": float(ma.mean()),
            "b": float(mb.mean()),
            "seeds": (len(a.seeds), len(b.seeds)),
            **paired_difference(ma, mb),
        }
    return out
