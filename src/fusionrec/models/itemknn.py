"""ItemKNN: item-item cosine similarity on the training interaction matrix, top-k pruned.

Scores are ``R[u] @ S`` with ``S`` sparse (k neighbours per item), so memory stays linear in
the number of items.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from fusionrec.models.base import Params, Recommender, TrainData, register


class ItemKNNParams(Params):
    k: int = 100
    shrink: float = 0.0


@register
class ItemKNN(Recommender):
    name = "itemknn"
    ParamsSchema = ItemKNNParams
    trainable = False

    def __init__(self, data: TrainData, params: ItemKNNParams) -> None:
        super().__init__(data, params)
        self.train_matrix = data.train_matrix.tocsr().astype(np.float32)
        self.similarity: sp.csr_matrix | None = None

    def fit(self, data: TrainData) -> None:
        self.train_matrix = data.train_matrix.tocsr().astype(np.float32)
        self.similarity = cosine_topk(self.train_matrix, self.params.k, self.params.shrink)

    def score(self, users: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        if self.similarity is None:
            raise RuntimeError("ItemKNN.fit must run before score")
        sim = self.similarity if items is None else self.similarity[:, items.cpu().numpy()]
        scores = (self.train_matrix[users.cpu().numpy()] @ sim).toarray()
        return torch.from_numpy(scores).to(users.device)

    def history_scores(self, items: np.ndarray) -> torch.Tensor:
        """A new user's scores: the summed similarities to their items, as a known user's."""
        if self.similarity is None:
            raise RuntimeError("ItemKNN.fit must run before score")
        rows = self.similarity[np.unique(items)]
        return torch.from_numpy(np.asarray(rows.sum(axis=0)).ravel())


def cosine_topk(matrix: sp.csr_matrix, k: int, shrink: float = 0.0, block: int = 2048):
    """Column-wise cosine similarity of ``matrix`` keeping the ``k`` largest per item."""
    cols = matrix.T.tocsr()
    norms = np.sqrt(np.asarray(cols.multiply(cols).sum(axis=1)).ravel())
    n = cols.shape[0]
    k = min(k, n - 1)
    rows_out, cols_out, vals_out = [], [], []
    for start in range(0, n, block):
        stop = min(n, start + block)
        sim = (cols[start:stop] @ cols.T).toarray()
        sim /= np.outer(norms[start:stop], norms) + shrink + 1e-12
        sim[np.arange(stop - start), np.arange(start, stop)] = 0.0
        top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        vals = np.take_along_axis(sim, top, axis=1)
        keep = vals > 0
        rows_out.append(np.repeat(np.arange(start, stop), k)[keep.ravel()])
        cols_out.append(top.ravel()[keep.ravel()])
        vals_out.append(vals.ravel()[keep.ravel()])
    return sp.csr_matrix(
        (
            np.concatenate(vals_out).astype(np.float32),
            (np.concatenate(rows_out), np.concatenate(cols_out)),
        ),
        shape=(n, n),
    )
