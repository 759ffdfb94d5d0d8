"""ItemKNN: item-item cosine similarity on the training interaction matrix, top-k pruned.

Scores are ``R[u] @ S`` (``fusionrec.models.item_item``) with ``S`` sparse (k neighbours per
item), so memory stays linear in the number of items.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from fusionrec.models.base import Params, TrainData, register
from fusionrec.models.item_item import ItemItemRecommender


class ItemKNNParams(Params):
    k: int = 100
    shrink: float = 0.0


@register
class ItemKNN(ItemItemRecommender):
    name = "itemknn"
    ParamsSchema = ItemKNNParams

    def build_item_item(self, data: TrainData) -> sp.csr_matrix:
        """S: the k most similar items per item."""
        return cosine_topk(self.history, self.params.k, self.params.shrink)


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
