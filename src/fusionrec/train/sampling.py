"""Uniform negative sampling without a per-user Python loop.

Candidates are drawn for the whole batch at once; the ones that hit a training positive are
redrawn (vectorised rejection), which converges in a few rounds for sparse data.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

#: Largest users x items grid kept as a bit set (32 MiB); larger ones use binary search.
BITSET_LIMIT = 2**28


class NegativeSampler:
    """Positives are looked up in a bit set over the users x items grid when it is small
    enough (one memory read per draw), else by binary search of the sorted (user, item) keys;
    both give the same answers, so the random stream and the samples are the same."""

    def __init__(self, train: sp.csr_matrix, rng: np.random.Generator) -> None:
        train = sp.csr_matrix(train)
        self.n_items = train.shape[1]
        coo = train.tocoo()
        self.keys = np.sort(coo.row.astype(np.int64) * self.n_items + coo.col)
        self.bits: np.ndarray | None = None
        if train.shape[0] * self.n_items <= BITSET_LIMIT:
            self.bits = np.zeros((train.shape[0] * self.n_items + 7) // 8, dtype=np.uint8)
            np.bitwise_or.at(self.bits, self.keys >> 3, (1 << (self.keys & 7)).astype(np.uint8))
        self.rng = rng
        density = np.diff(train.indptr).max(initial=0) / max(1, self.n_items)
        if density >= 1.0:
            raise ValueError("a user has interacted with every item; no negatives exist")

    def _is_positive(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        keys = users.astype(np.int64) * self.n_items + items
        if self.bits is not None:
            return ((self.bits[keys >> 3] >> (keys & 7).astype(np.uint8)) & 1).astype(bool)
        pos = np.searchsorted(self.keys, keys)
        pos = np.minimum(pos, len(self.keys) - 1)
        return self.keys[pos] == keys

    def sample(self, users: np.ndarray, n_neg: int = 1) -> np.ndarray:
        """Items [len(users), n_neg] that each user has not interacted with in training."""
        rep = np.repeat(users, n_neg)
        items = self.rng.integers(0, self.n_items, size=len(rep))
        bad = self._is_positive(rep, items)
        for _ in range(100):
            if not bad.any():
                break
            idx = np.flatnonzero(bad)
            items[idx] = self.rng.integers(0, self.n_items, size=len(idx))
            bad[idx] = self._is_positive(rep[idx], items[idx])
        return items.reshape(len(users), n_neg)
