"""Paired retrieval metrics: query i's one relevant item is gallery item i.

Used for cross-modal search (an item's text must find its own image). Ties count against
the query (a tie with a wrong item ranks the right one below it), so a constant scorer gets
the worst rank, never a lucky one. The random baseline is the exact expectation, not a
sample: with ``n`` gallery items the relevant one is equally likely at every rank.
"""

from __future__ import annotations

import numpy as np


def paired_ranks(scores: np.ndarray) -> np.ndarray:
    """1-based rank of the diagonal entry in each row of a square score matrix."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[0] != scores.shape[1]:
        raise ValueError(f"scores must be a square matrix, got shape {scores.shape}")
    diag = np.diag(scores)[:, None]
    # Every other item scoring at least as high as the right one ranks above it.
    return (scores >= diag).sum(axis=1)


def retrieval_metrics(ranks: np.ndarray, ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, float]:
    """Recall@K (the right item within the top K) and MRR, averaged over queries."""
    ranks = np.asarray(ranks, dtype=np.float64)
    out = {f"recall@{k}": float(np.mean(ranks <= k)) for k in ks}
    out["mrr"] = float(np.mean(1.0 / ranks))
    return out


def random_retrieval_metrics(n: int, ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, float]:
    """Exact expectation of ``retrieval_metrics`` for a uniformly random ranking of ``n``."""
    if n < 1:
        raise ValueError("the gallery must hold at least one item")
    out = {f"recall@{k}": min(k, n) / n for k in ks}
    out["mrr"] = float(np.sum(1.0 / np.arange(1, n + 1)) / n)
    return out
