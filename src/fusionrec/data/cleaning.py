"""Cleaning steps. Each returns a new ``Dataset`` and appends a line to ``dataset.log`` that
counts what it dropped, so nothing disappears silently."""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import pandas as pd

from fusionrec.data.dataset import ITEM, RATING, TIMESTAMP, USER, Dataset
from fusionrec.errors import DataError

log = logging.getLogger(__name__)


def _with(dataset: Dataset, interactions: pd.DataFrame, message: str) -> Dataset:
    log.info(message)
    return replace(
        dataset, interactions=interactions.reset_index(drop=True), log=[*dataset.log, message]
    )


def to_implicit(dataset: Dataset, threshold: float | None = None) -> Dataset:
    """Keep interactions with ``rating >= threshold`` (all of them when threshold is None)."""
    if threshold is None:
        return _with(dataset, dataset.interactions, "implicit: all interactions kept as positive")
    if not dataset.has_ratings:
        raise DataError(
            f"implicit threshold {threshold} given but dataset '{dataset.name}' has no ratings",
            hint="Remove 'implicit_threshold' from the dataset config",
        )
    keep = dataset.interactions[RATING].to_numpy() >= threshold
    dropped = int((~keep).sum())
    return _with(
        dataset,
        dataset.interactions[keep],
        f"implicit: dropped {dropped} interactions with rating < {threshold}",
    )


def deduplicate(dataset: Dataset) -> Dataset:
    """Keep one interaction per (user, item): the latest when timestamps exist, else the first."""
    inter = dataset.interactions
    order = (
        inter.sort_values(TIMESTAMP, kind="stable").index if dataset.has_timestamps else inter.index
    )
    keep_last = dataset.has_timestamps
    ordered = inter.loc[order]
    dup = ordered.duplicated([USER, ITEM], keep="last" if keep_last else "first")
    kept = ordered[~dup].sort_index()
    return _with(
        dataset, kept, f"deduplicate: dropped {int(dup.sum())} repeated (user, item) interactions"
    )


def kcore(dataset: Dataset, user_k: int = 0, item_k: int = 0) -> Dataset:
    """Iteratively drop users with < ``user_k`` and items with < ``item_k`` interactions, then
    re-index so the remaining users and items are contiguous.

    A threshold of 0 filters nothing on its side: every catalogue item (or every user of the
    users table) stays, interactions or not, since catalogue items without interactions are
    the cold-start items a content model can still recommend. From 1 up, a side keeps only
    those left with interactions."""
    if user_k <= 1 and item_k <= 1:
        return dataset
    inter = dataset.interactions
    users = inter[USER].to_numpy()
    items = inter[ITEM].to_numpy()
    keep = np.ones(len(inter), dtype=bool)
    while True:
        u_deg = np.bincount(users[keep], minlength=dataset.n_users)
        i_deg = np.bincount(items[keep], minlength=dataset.n_items)
        bad = keep & ((u_deg[users] < user_k) | (i_deg[items] < item_k))
        if not bad.any():
            break
        keep &= ~bad
    kept = inter[keep]
    if kept.empty:
        raise DataError(
            f"dataset '{dataset.name}' is empty after {user_k}/{item_k}-core filtering",
            hint="Lower kcore_user / kcore_item",
        )
    user_keep = np.unique(kept[USER].to_numpy()) if user_k > 0 else np.arange(dataset.n_users)
    item_keep = np.unique(kept[ITEM].to_numpy()) if item_k > 0 else np.arange(dataset.n_items)
    user_map = np.full(dataset.n_users, -1, dtype=np.int64)
    user_map[user_keep] = np.arange(len(user_keep))
    item_map = np.full(dataset.n_items, -1, dtype=np.int64)
    item_map[item_keep] = np.arange(len(item_keep))
    kept = kept.copy()
    kept[USER] = user_map[kept[USER].to_numpy()]
    kept[ITEM] = item_map[kept[ITEM].to_numpy()]
    message = (
        f"kcore(user>={user_k}, item>={item_k}): dropped {int((~keep).sum())} interactions, "
        f"{dataset.n_users - len(user_keep)} users, {dataset.n_items - len(item_keep)} items"
    )
    out = replace(
        dataset,
        items=dataset.items.iloc[item_keep].reset_index(drop=True),
        users=dataset.users.iloc[user_keep].reset_index(drop=True),
    )
    return _with(out, kept, message)


def clean(
    dataset: Dataset,
    *,
    implicit_threshold: float | None = None,
    dedupe: bool = True,
    kcore_user: int = 0,
    kcore_item: int = 0,
) -> Dataset:
    """The standard cleaning pipeline: implicit conversion, de-duplication, k-core."""
    dataset = to_implicit(dataset, implicit_threshold)
    if dedupe:
        dataset = deduplicate(dataset)
    dataset = kcore(dataset, kcore_user, kcore_item)
    if dataset.interactions.empty:
        raise DataError(
            f"dataset '{dataset.name}' has no interactions after cleaning",
            hint="Check implicit_threshold and k-core settings",
        )
    return dataset
