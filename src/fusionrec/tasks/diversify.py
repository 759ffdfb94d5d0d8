"""Re-ranking a recommendation for diversity: maximal marginal relevance (Carbonell &
Goldstein, SIGIR 1998).

A model ranks each item on its own, so a list can fill with near-copies (five sequels of one
film). MMR builds the list one item at a time from a pool of the model's best, each step
taking the item with the largest

    (1 - w) * relevance(i) - w * max over items j already listed of similarity(i, j),

relevance being the model's score scaled to [0, 1] over the pool (scores are comparable
within one user's list only) and ``w`` the ``diversify`` weight: 0 leaves the model's order,
1 ignores relevance after the first item. Similarity is the cosine of two items' training
columns (``ratings``: items the same users interacted with are alike, the similarity the
evaluator's ``diversity@K`` measures) or of their vectors in a view (``text``, ``image``,
``fused``: items that read or look alike; a pair with an item lacking that content falls back
to co-rating). The trade-off it buys on real data is measured in
``benchmarks/bench_diversify.py``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from fusionrec.errors import ConfigError

#: the model's best ``POOL_FACTOR * k`` items (at least ``MIN_POOL``) are the candidates
POOL_FACTOR = 5
MIN_POOL = 50
#: the similarity MMR uses unless a view is named
RATINGS = "ratings"


def check_weight(weight: float) -> float:
    """The ``diversify`` weight, in [0, 1]."""
    if not 0.0 <= weight <= 1.0:
        raise ConfigError(f"diversify must be between 0 (the model's order) and 1, got {weight}")
    return float(weight)


def pool_size(k: int) -> int:
    return max(MIN_POOL, POOL_FACTOR * k)


def rating_similarity(train: sp.spmatrix, rows: np.ndarray) -> np.ndarray:
    """[len(rows), len(rows)] cosine of the items' binary training columns; an item nobody
    interacted with is similar to nothing (0), itself included. Give ``train`` as CSC when
    calling per user: its columns are then sliced without converting the whole matrix."""
    columns = (sp.csc_matrix(train)[:, rows] != 0).astype(np.float64)
    norms = np.sqrt(np.asarray(columns.sum(axis=0)).ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    unit = columns.multiply(scale[None, :]).tocsc()
    return np.asarray((unit.T @ unit).todense())


def mmr_order(scores: np.ndarray, similarity: np.ndarray, k: int, weight: float) -> np.ndarray:
    """Positions into ``scores`` (one user's pool, best first) of the ``k`` items MMR lists,
    in list order. The first is always the best-scored item."""
    n = len(scores)
    k = min(k, n)
    if k == 0:
        return np.zeros(0, np.int64)
    low, high = float(scores.min()), float(scores.max())
    relevance = (scores - low) / (high - low) if high > low else np.zeros(n)
    closest = np.zeros(n)  # max similarity to the listed items
    taken = np.zeros(n, dtype=bool)
    order = np.empty(k, np.int64)
    for step in range(k):
        value = relevance.copy() if step == 0 else (1.0 - weight) * relevance - weight * closest
        value[taken] = -np.inf
        pick = int(np.argmax(value))  # ties: the earlier, better-scored position
        order[step] = pick
        taken[pick] = True
        closest = similarity[pick] if step == 0 else np.maximum(closest, similarity[pick])
    return order
