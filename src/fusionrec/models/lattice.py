"""LATTICE: item-item graphs learned from modality features, added to collaborative filtering.

Zhang et al., "Mining Latent Structures for Multimedia Recommendation", ACM MM 2021.

What is fused and why: each modality's features are projected by a learned linear layer and
a kNN graph over the projected items is rebuilt (top-k indices without gradient, edge
weights = cosine similarities with gradient, so the projection learns which items should be
neighbours). The learned modality graphs are mixed with learned softmax weights, normalised,
and combined with the frozen kNN graph of the raw features:

    S = (1 - lambda) * norm(sum_m w_m S_m^learned) + lambda * sum_m w_m S_m^raw

Item id embeddings propagated over S are L2-normalised and added to the LightGCN (or MF)
item embeddings, so items with similar content share collaborative signal.

Memory: every graph is sparse with <= k edges per item and modality (self-loop included,
as MMRec's top-k over the full similarity row); the kNN search runs block by block
(``graph.knn_graph``), never building the dense items x items similarity the original code
holds. As in MMRec the learned graph is rebuilt (with gradient) on the first batch of each
epoch and reused detached for the others, and rebuilt once per evaluation.

Missing modalities: items without a modality are not in that modality's graphs; the mixing
weights of the raw graphs are renormalised over the modalities an item has (the learned
graph's normalisation does that by itself).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import nn

from fusionrec.models.base import (
    Params,
    Recommender,
    TrainData,
    id_embeddings,
    l2_reg,
    pos_neg_scores,
    register,
)
from fusionrec.models.fusion import ModalityProjector
from fusionrec.models.graph import SparseGraph, knn_graph, normalized_bipartite, to_torch_sparse
from fusionrec.models.item_graph import knn_adjacency, sparse_sym_normalize
from fusionrec.models.lightgcn import propagate


class LATTICEParams(Params):
    embedding_size: int = 64
    feat_embed_dim: int = 64
    knn_k: int = 10
    #: Weight of the frozen raw-feature graph against the learned one (MMRec 0.9).
    lambda_coeff: float = 0.9
    #: Propagation layers over the item-item graph.
    n_layers: int = 1
    #: Collaborative backbone and its layers (MMRec weight_size [64, 64] -> 2 layers).
    cf_model: Literal["lightgcn", "mf"] = "lightgcn"
    n_ui_layers: int = 2
    #: L2 on the batch's final embeddings (MMRec grid [0, 1e-5, 1e-4, 1e-3]).
    reg_weight: float = 1e-4


def edge_propagate(adj: torch.Tensor | SparseGraph, h: torch.Tensor) -> torch.Tensor:
    """``adj @ h`` for a fixed graph, or a sparse COO ``adj`` whose values carry gradient.

    ``torch.sparse.mm`` computes the gradient of the sparse operand through a dense
    n x n product before masking it, which is quadratic memory in the number of items;
    gathering neighbours and summing per edge keeps both passes O(nnz x dim).
    """
    if isinstance(adj, SparseGraph):
        return adj(h)
    idx = adj.indices()
    messages = adj.values().unsqueeze(1) * h[idx[1]]
    return torch.zeros_like(h).index_add(0, idx[0], messages)


@register
class LATTICE(Recommender):
    name = "lattice"
    ParamsSchema = LATTICEParams
    requires_features = True

    def __init__(self, data: TrainData, params: LATTICEParams) -> None:
        super().__init__(data, params)
        d = params.embedding_size
        self.user_emb, self.item_emb = id_embeddings(data.n_users, data.n_items, d)
        self.projector = ModalityProjector(data.features, params.feat_embed_dim)
        self.names = self.projector.names
        self.modal_logits = nn.Parameter(torch.zeros(len(self.names)))
        present = torch.stack([self.projector.mask(n) for n in self.names], dim=1).float()
        self.register_buffer("present", present, persistent=False)
        for n in self.names:
            raw = knn_adjacency(
                self.projector.raw(n), params.knn_k, self.projector.mask(n), binary=False
            )
            self.register_buffer(f"raw_adj_{n}", to_torch_sparse(raw), persistent=False)
        self.norm_adj = normalized_bipartite(data.train_matrix)
        self._item_adj: SparseGraph | None = None
        self._rebuild = True

    # -- item graph -----------------------------------------------------------------------
    def _learned_edges(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """kNN edges (self included) of the projected features, weighted by their cosine
        similarity: indices chosen without gradient, values differentiable."""
        mask = self.projector.mask(name)
        x = self.projector.project(name)
        k = self.params.knn_k - 1
        knn = knn_graph(x.detach().cpu(), k, mask.cpu()).tocoo() if k > 0 else None
        own = torch.nonzero(mask.cpu()).squeeze(1)
        rows = [own] + ([torch.from_numpy(knn.row.astype(np.int64))] if knn is not None else [])
        cols = [own] + ([torch.from_numpy(knn.col.astype(np.int64))] if knn is not None else [])
        idx = torch.stack([torch.cat(rows), torch.cat(cols)]).to(x.device)
        xn = nn.functional.normalize(x, dim=1)
        values = (xn[idx[0]] * xn[idx[1]]).sum(-1).clamp_min(0.0)
        return idx, values

    def build_item_graph(self) -> torch.Tensor:
        """The sparse mixed item-item graph S (values carry gradient in training mode)."""
        n, lam = self.n_items, self.params.lambda_coeff
        w = torch.softmax(self.modal_logits, dim=0)
        total = self.present @ w
        row_scale = torch.where(total > 0, 1.0 / total.clamp_min(1e-12), torch.zeros_like(total))
        idx_l, val_l, idx_o, val_o = [], [], [], []
        for m, name in enumerate(self.names):
            idx, values = self._learned_edges(name)
            idx_l.append(idx)
            val_l.append(w[m] * values)
            raw = getattr(self, f"raw_adj_{name}")
            idx_o.append(raw.indices())
            val_o.append(w[m] * raw.values() * row_scale[raw.indices()[0]])
        learned_idx = torch.cat(idx_l, dim=1)
        learned = sparse_sym_normalize(learned_idx, torch.cat(val_l), n)
        indices = torch.cat([learned_idx, *idx_o], dim=1)
        values = torch.cat([(1 - lam) * learned, lam * torch.cat(val_o)])
        return torch.sparse_coo_tensor(indices, values, (n, n), check_invariants=False).coalesce()

    def on_epoch_start(self, epoch: int) -> None:
        self._rebuild = True

    def _train_item_graph(self) -> torch.Tensor | SparseGraph:
        """The graph with gradient on an epoch's first batch; frozen for the others."""
        if self._rebuild or self._item_adj is None:
            adj = self.build_item_graph()
            self._item_adj = SparseGraph.from_coo(adj)
            self._rebuild = False
            return adj
        return self._item_adj

    # -- propagation ----------------------------------------------------------------------
    def forward(self, item_adj: torch.Tensor | SparseGraph) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.item_emb.weight
        for _ in range(self.params.n_layers):
            h = edge_propagate(item_adj, h)
        if self.params.cf_model == "lightgcn":
            ego = torch.cat([self.user_emb.weight, self.item_emb.weight], dim=0)
            out = propagate(self.norm_adj, ego, self.params.n_ui_layers)
            users, items = out[: self.n_users], out[self.n_users :]
        else:
            users, items = self.user_emb.weight, self.item_emb.weight
        return users, items + nn.functional.normalize(h, dim=1)

    def _full(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.cached(
            "full", lambda: self.forward(SparseGraph.from_coo(self.build_item_graph()))
        )

    # -- contract -------------------------------------------------------------------------
    def calculate_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        users_all, items_all = self.forward(self._train_item_graph())
        u = users_all[batch["users"]]
        p, n = items_all[batch["pos_items"]], items_all[batch["neg_items"]]
        pos, neg = pos_neg_scores(u, p, n)
        if neg.dim() == 2:
            pos = pos.unsqueeze(1)
        bpr = nn.functional.softplus(neg - pos).mean()
        return bpr + self.params.reg_weight * l2_reg(u, p, n.reshape(-1, n.shape[-1]))

    def score(self, users: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        user_vec, item_vec = self._full()
        return self.dot_scores(user_vec[users], item_vec, items)

    def item_embeddings(self) -> torch.Tensor:
        return self._full()[1].detach()

    def user_embeddings(self) -> torch.Tensor:
        return self._full()[0].detach()

    def modality_weights(self) -> dict[str, float]:
        w = torch.softmax(self.modal_logits.detach(), dim=0).tolist()
        return dict(zip(self.names, w, strict=True))
