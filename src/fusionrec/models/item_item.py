"""The shape shared by item-item models: a user's scores are their history row times W.

ItemKNN (W: pruned cosine similarities, sparse) and EASE (W: a learned dense weight matrix)
differ only in how ``fit`` builds W; scoring a known user (``history[u] @ W``) is written
here once. A new user is scored from W by ``EmbeddingRecommender.history_scores`` (the sum of
the liked items' rows, the same product with a binary row), for a run and a bundle alike.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from fusionrec.models.base import Params, Recommender, TrainData

ItemItem = np.ndarray | sp.csr_matrix


class ItemItemRecommender(Recommender):
    """Closed-form model scoring ``history[u] @ W``; subclasses build W in ``build_item_item``."""

    trainable = False

    def __init__(self, data: TrainData, params: Params) -> None:
        super().__init__(data, params)
        self.history = self.history_matrix(data)
        self._item_item: ItemItem | None = None

    def history_matrix(self, data: TrainData) -> sp.csr_matrix:
        """The user rows W is multiplied by (default: the training matrix as it is)."""
        return sp.csr_matrix(data.train_matrix, dtype=np.float32)

    def build_item_item(self, data: TrainData) -> ItemItem:
        """W, [n_items, n_items]: row i says how much liking item i raises each item."""
        raise NotImplementedError

    def fit(self, data: TrainData) -> None:
        self.history = self.history_matrix(data)
        self._item_item = self.build_item_item(data)

    @property
    def item_item(self) -> ItemItem:
        """W, once ``fit`` has built it."""
        if self._item_item is None:
            raise RuntimeError(f"{type(self).__name__}.fit must run before score")
        return self._item_item

    def score(self, users: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        w = self.item_item if items is None else self.item_item[:, items.cpu().numpy()]
        scores = self.history[users.cpu().numpy()] @ w
        if sp.issparse(scores):
            scores = scores.toarray()
        return torch.from_numpy(np.ascontiguousarray(scores)).to(users.device)
