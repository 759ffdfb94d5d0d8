"""Recommendation lists made elsewhere, read and scored on a run's split: what
``fusionrec.evaluate_lists``, ``fusionrec evaluate RUN --lists`` and ``fusionrec compare RUN
FILE`` share. The lists become the evaluator's scores (``fusionrec.evaluate.lists``)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from fusionrec.errors import ConfigError
from fusionrec.evaluate import Evaluator
from fusionrec.evaluate.evaluator import ScoreFn
from fusionrec.evaluate.lists import list_matrix, list_scores
from fusionrec.tasks.ids import lookup, read_pairs
from fusionrec.train.reload import PerUser, run_split_evaluator

log = logging.getLogger(__name__)


def ordered_lists(lists: pd.DataFrame | str | Path) -> tuple[pd.DataFrame, str]:
    """The table's rows with each user's list in order: by ``rank``, else by descending
    ``score``, else as given; and where it came from, for messages."""
    frame, where = read_pairs(lists, "the recommendation lists")
    for column, ascending in (("rank", True), ("score", False)):
        if column in frame.columns:
            if not pd.api.types.is_numeric_dtype(frame[column]):
                raise ConfigError(f"{where}: the {column} column must hold numbers")
            return frame.sort_values(column, ascending=ascending, kind="stable"), where
    return frame, where


def scored_lists(
    run_dir: str | Path, lists: pd.DataFrame | str | Path, part: str = "test"
) -> tuple[Evaluator, ScoreFn]:
    """The evaluator of the run's ``part`` and a score function that ranks each user's list
    as given; known items listed and evaluated users without a list are logged."""
    if part not in ("test", "valid"):
        raise ConfigError(f"part must be test or valid, got {part!r}")
    frame, where = ordered_lists(lists)
    evaluator, dataset = run_split_evaluator(run_dir, part)
    users = lookup(frame["user_id"], dataset.user_index(), "user")
    items = lookup(frame["item_id"], dataset.item_index(), "item")
    listed = list_matrix(users, items, dataset.n_users, dataset.n_items)
    known = int(listed.multiply(evaluator.exclude != 0).nnz)
    if known:
        log.warning(
            "%s: %d listed items are items their user is known to have (training%s); they "
            "are masked as for any model, not counted",
            where, known, "" if part == "valid" else " or validation",
        )  # fmt: skip
    unlisted = np.setdiff1d(evaluator.users, users)
    if len(unlisted):
        log.warning(
            "%s: %d of the %d users evaluated on %s have no list; they count as misses",
            where, len(unlisted), evaluator.n_users, part,
        )  # fmt: skip
    return evaluator, list_scores(listed)


def lists_per_user(
    run_dir: str | Path, lists: pd.DataFrame | str | Path, part: str = "test"
) -> PerUser:
    """Every evaluated user's metrics of the lists, as ``per_user_metrics`` gives a run's
    (one "seed": the lists are one answer)."""
    evaluator, score = scored_lists(run_dir, lists, part)
    return PerUser(evaluator.users, evaluator.target, {0: evaluator.per_user(score)})
