"""Recommendation lists made elsewhere, scored by the evaluator.

Another system's top-K lists (a production ranker, a baseline from another library) compare
with fusionrec's models only when they are scored on the same split with the same masking
and metrics. The lists become scores the evaluator ranks exactly as listed: each user's items
get n, n-1, ..., 1 in list order and every other item -inf, so the evaluator's top K is the
list's first K, training items masked as for any model (a listed training item is dropped,
not counted as a hit), and a user without a list ranks nothing (every metric 0 for them).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from fusionrec.errors import DataError
from fusionrec.evaluate.evaluator import ScoreFn

ScoreRows = sp.csr_matrix


def list_matrix(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int) -> ScoreRows:
    """[n_users, n_items] CSR of pseudo-scores: row u holds u's listed items, in the order
    given (``users`` and ``items`` aligned, each user's rows best first), scored from the
    list's length down to 1. A repeated (user, item) pair is an error: a list holds an item
    once."""
    users, items = np.asarray(users, np.int64), np.asarray(items, np.int64)
    keys = users * n_items + items
    _, first, counts = np.unique(keys, return_index=True, return_counts=True)
    if (counts > 1).any():
        at = int(first[np.argmax(counts > 1)])
        raise DataError(
            f"user row {users[at]} lists item row {items[at]} {int(counts.max())} times; a "
            "recommendation list holds each item once"
        )
    order = np.argsort(users, kind="stable")  # each user's rows together, list order kept
    u, it = users[order], items[order]
    length = np.bincount(u, minlength=n_users)
    start = (np.cumsum(length) - length)[u]
    values = length[u] - (np.arange(len(u)) - start)  # n for a list's first item, 1 its last
    return sp.csr_matrix((values.astype(np.float32), (u, it)), shape=(n_users, n_items))


def list_scores(lists: ScoreRows) -> ScoreFn:
    """A score function for ``Evaluator.evaluate``: a block of users' rows of ``lists``,
    dense, -inf where nothing is listed."""
    n_items = lists.shape[1]

    def score(users: torch.Tensor) -> torch.Tensor:
        block = lists[users.cpu().numpy()].tocoo()
        out = torch.full((len(users), n_items), -torch.inf)
        rows, cols = (torch.from_numpy(a.astype(np.int64)) for a in (block.row, block.col))
        out[rows, cols] = torch.from_numpy(block.data)
        return out

    return score
