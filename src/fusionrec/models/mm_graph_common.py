"""Pieces shared by the MGCN and SMORE graph models: frozen modality item-item graphs and
the normalised user->item aggregation matrix.

Both papers build, per modality, a kNN graph over raw item features (binary top-k including
the item itself, then D^-1/2 A D^-1/2, as MMRec does) once, and read a user's modality view
as the normalised sum of their items' modality vectors. Graphs here are always sparse; an
item whose modality is missing gets no edges, so it contributes nothing to that view.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from fusionrec.data.features import ModalityFeatures
from fusionrec.models.graph import (
    bipartite_adjacency,
    knn_graph,
    symmetric_normalize,
)


def modality_item_graph(mod: ModalityFeatures, k: int) -> sp.csr_matrix:
    """Binary kNN graph (self-loop + k-1 neighbours, present items only), sym-normalised."""
    x = torch.from_numpy(mod.matrix)
    mask = torch.from_numpy(mod.mask)
    knn = knn_graph(x, max(1, k - 1), mask=mask)
    knn.data[:] = 1.0
    knn = knn + sp.diags(mod.mask.astype(np.float32))
    return symmetric_normalize(knn)


def max_pool_graphs(graphs: list[sp.csr_matrix]) -> sp.csr_matrix:
    """Element-wise maximum of sparse graphs: the union of edges, each with its strongest
    weight (SMORE's fused item-item view)."""
    out = graphs[0].tocsr()
    for g in graphs[1:]:
        out = out.maximum(g.tocsr())
    return out.tocsr()


def user_item_views(train: sp.csr_matrix) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """(normalised bipartite adjacency, its user x item block R_hat)."""
    norm = symmetric_normalize(bipartite_adjacency(train))
    n_users = train.shape[0]
    return norm, norm[:n_users, n_users:].tocsr()
