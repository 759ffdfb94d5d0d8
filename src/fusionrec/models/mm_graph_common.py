"""Pieces shared by the MGCN and SMORE graph models: frozen modality item-item graphs, the
normalised user->item aggregation matrix, and the two-view model both are built as.

Both papers build, per modality, a kNN graph over raw item features (binary top-k including
the item itself, then D^-1/2 A D^-1/2, as MMRec does) once, and read a user's modality view
as the normalised sum of their items' modality vectors. Graphs here are always sparse; an
item whose modality is missing gets no edges, so it contributes nothing to that view.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from fusionrec.data.features import ModalityFeatures
from fusionrec.models.base import (
    ForwardRecommender,
    TrainData,
    bpr_loss,
    l2_reg,
    pos_neg_scores,
)
from fusionrec.models.graph import (
    bipartite_adjacency,
    knn_graph,
    symmetric_normalize,
)
from fusionrec.models.multitask_heads import batch_info_nce


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


def gate(d: int) -> nn.Sequential:
    """sigmoid(W x + b): the purifier and preference gates of both papers."""
    return nn.Sequential(nn.Linear(d, d), nn.Sigmoid())


class BehaviourSideModel(ForwardRecommender):
    """A model that scores with a behaviour view (LightGCN over interactions) plus a side view
    built from content, and trains with BPR plus an InfoNCE between the two views of the
    batch's users and items: MGCN and its successor SMORE differ only in the side view.

    Subclasses build ``views()``; their params carry ``reg_weight``, ``cl_loss`` and
    ``temperature``. The behaviour view alone is the model's behaviour-only item vector
    (``behaviour_embeddings``: similar items by what users did, not by what items look like).
    """

    def register_warm(self, data: TrainData, zero_cold_ids: bool) -> None:
        """[n_items, 1] multiplier of the id vectors: 0 for items without training
        interactions when ``zero_cold_ids`` (their ids were never trained, so such an item is
        represented by its content neighbours alone), else 1."""
        pop = data.item_popularity
        warm = pop > 0 if zero_cold_ids else pop >= 0
        self.register_buffer("warm", torch.as_tensor(warm, dtype=torch.float32).unsqueeze(1),
                             persistent=False)  # fmt: skip

    def modality_mask(self, name: str) -> torch.Tensor:
        """[n_items] bool: which items have modality ``name`` (buffer ``mask_<name>``)."""
        return getattr(self, f"mask_{name}")

    def views(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(behaviour view, side view), each [(n_users + n_items), d]."""
        raise NotImplementedError

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        def compute() -> tuple[torch.Tensor, torch.Tensor]:
            behaviour, side = self.views()
            out = behaviour + side
            return out[: self.n_users], out[self.n_users :]

        return self.cached("propagated", compute)

    def calculate_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        behaviour, side = self.views()
        full = behaviour + side
        users, items = full[: self.n_users], full[self.n_users :]
        u_idx, p_idx, n_idx = batch["users"], batch["pos_items"], batch["neg_items"]
        u, p, n = users[u_idx], items[p_idx], items[n_idx]
        pos, neg = pos_neg_scores(u, p, n)
        loss = bpr_loss(pos, neg) + self.params.reg_weight * l2_reg(u, p, n)
        if self.params.cl_loss > 0:
            t, off = self.params.temperature, self.n_users
            cl = batch_info_nce(side[off:], behaviour[off:], p_idx, t)
            cl = cl + batch_info_nce(side[:off], behaviour[:off], u_idx, t)
            loss = loss + self.params.cl_loss * cl
        return loss

    def behaviour_embeddings(self) -> torch.Tensor:
        """The behaviour view of the items (before the side view is added)."""
        return self.cached("behaviour", lambda: self.views()[0][self.n_users :]).detach()
