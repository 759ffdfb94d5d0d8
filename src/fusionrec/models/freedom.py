"""FREEDOM: a frozen item-item graph from content + a denoised (pruned) user-item graph.

Zhou & Shen, "A Tale of Two Graphs: Freezing and Denoising Graph Structures for Multimodal
Recommendation", ACM MM 2023.

What is fused and why:

* each modality gives a kNN item-item graph built once from the raw features (sparse,
  <= k edges per item, self included, binary, D^-1/2 A D^-1/2); the modality graphs are
  mixed with weights (``image_weight`` for image, the rest shared by the other modalities)
  and **frozen**: the paper shows that learning it (LATTICE) costs time and memory without
  gaining accuracy. Item id embeddings are propagated over it, so items with similar
  content share collaborative signal, which helps sparse items most;
* the user-item graph is **denoised** each epoch by keeping a ``1 - dropout`` fraction of
  the edges, sampled with probability proportional to 1/sqrt(d_u d_i) (edges between two
  high-degree nodes are the likeliest noise); LightGCN runs on the pruned graph while
  training and on the full graph when scoring;
* item = LightGCN item embedding + item-graph embedding; the loss is BPR plus
  ``reg_weight`` x BPR of the user embeddings against each modality's projected features,
  which pulls users towards the content of what they consumed.

Missing modalities: an item without a modality has no edges in that modality's graph and
the weights of the modalities it has are renormalised; its modality-BPR term is skipped.
"""

from __future__ import annotations

import numpy as np
import pydantic
import scipy.sparse as sp
import torch
from torch import nn

from fusionrec.errors import ConfigError
from fusionrec.models.base import (
    Params,
    Recommender,
    TrainData,
    distinct_items,
    id_embeddings,
    pos_neg_scores,
    register,
)
from fusionrec.models.fusion import ModalityProjector
from fusionrec.models.graph import SparseGraph, normalized_bipartite
from fusionrec.models.item_graph import (
    combine_graphs,
    degree_sensitive_sample,
    edge_keep_weights,
    knn_adjacency,
)
from fusionrec.models.lightgcn import propagate


class FREEDOMParams(Params):
    embedding_size: int = 64
    feat_embed_dim: int = 64
    knn_k: int = 10
    #: Weight of the image graph; other modalities share 1 - image_weight (MMRec 0.1).
    image_weight: float = 0.1
    n_mm_layers: int = 1
    n_ui_layers: int = 2
    #: Fraction of user-item edges pruned each epoch (MMRec grid [0.8, 0.9]).
    dropout: float = 0.8
    #: Weight of the modality BPR terms (MMRec grid [0, 1e-5, 1e-4, 1e-3]).
    reg_weight: float = 1e-4

    @pydantic.model_validator(mode="after")
    def _same_width(self) -> FREEDOMParams:
        """The modality BPR terms score users (``embedding_size`` wide) against projected
        features (``feat_embed_dim`` wide): caught when the config is read, not at the first
        batch after the data is loaded and encoded."""
        if self.reg_weight > 0 and self.feat_embed_dim != self.embedding_size:
            raise ConfigError(
                f"model.params: feat_embed_dim {self.feat_embed_dim} must equal embedding_size "
                f"{self.embedding_size} while reg_weight > 0 (its modality BPR terms take "
                "their dot product); set both"
            )
        return self


def modality_weights(names: list[str], image_weight: float) -> np.ndarray:
    """``image_weight`` for 'image' and the remainder split evenly over the others."""
    if len(names) == 1:
        return np.ones(1)
    if "image" not in names:
        return np.full(len(names), 1.0 / len(names))
    rest = (1.0 - image_weight) / (len(names) - 1)
    return np.array([image_weight if n == "image" else rest for n in names])


def frozen_item_graph(
    projector: ModalityProjector, k: int, image_weight: float
) -> tuple[sp.csr_matrix, dict[str, sp.csr_matrix]]:
    """The weighted sum of every modality's normalised binary kNN graph, and the parts."""
    names = projector.names
    parts = {n: knn_adjacency(projector.raw(n), k, projector.mask(n)) for n in names}
    masks = [projector.mask(n).cpu().numpy() for n in names]
    mixed = combine_graphs([parts[n] for n in names], masks, modality_weights(names, image_weight))
    return mixed, parts


@register
class FREEDOM(Recommender):
    name = "freedom"
    ParamsSchema = FREEDOMParams
    requires_features = True

    def __init__(self, data: TrainData, params: FREEDOMParams) -> None:
        super().__init__(data, params)
        d = params.embedding_size
        self.user_emb, self.item_emb = id_embeddings(data.n_users, data.n_items, d)
        self.projector = ModalityProjector(data.features, params.feat_embed_dim)
        mixed, _ = frozen_item_graph(self.projector, params.knn_k, params.image_weight)
        self.item_graph_nnz = int(mixed.nnz)
        self.mm_adj = SparseGraph(mixed)
        self.norm_adj = normalized_bipartite(data.train_matrix)
        self._edges = edge_keep_weights(data.train_matrix)
        self.masked_adj: torch.Tensor | None = None

    # -- graphs ---------------------------------------------------------------------------
    def on_epoch_start(self, epoch: int) -> None:
        """Degree-sensitive edge pruning: a fresh denoised user-item graph every epoch."""
        self.masked_adj = self.prune_graph()

    def prune_graph(self) -> torch.Tensor:
        rows, cols, weights = self._edges
        if self.params.dropout <= 0:
            return self.norm_adj
        keep = degree_sensitive_sample(weights, int(len(weights) * (1 - self.params.dropout)))
        kept = sp.csr_matrix(
            (np.ones(len(keep), dtype=np.float32), (rows[keep], cols[keep])),
            shape=(self.n_users, self.n_items),
        )
        return normalized_bipartite(kept, self.norm_adj.device)

    def forward(self, adj: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.item_emb.weight
        for _ in range(self.params.n_mm_layers):
            h = self.mm_adj(h)
        ego = torch.cat([self.user_emb.weight, self.item_emb.weight], dim=0)
        out = propagate(adj, ego, self.params.n_ui_layers)
        return out[: self.n_users], out[self.n_users :] + h

    def _full(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.cached("full", lambda: self.forward(self.norm_adj))

    # -- contract -------------------------------------------------------------------------
    def calculate_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.masked_adj is None:
            self.masked_adj = self.prune_graph()
        users_all, items_all = self.forward(self.masked_adj)
        users, pos, neg = batch["users"], batch["pos_items"], batch["neg_items"]
        u = users_all[users]
        loss = _bpr(u, items_all[pos], items_all[neg])
        if self.params.reg_weight > 0:
            rows, at_pos, at_neg = distinct_items(pos, neg)
            for name in self.projector.names:
                m = self.projector.mask(name)
                ok = m[pos] & (m[neg] if neg.dim() == 1 else m[neg].all(dim=1))
                projected = self.projector.project_at(name, rows)
                f_pos, f_neg = projected[at_pos], projected[at_neg]
                loss = loss + self.params.reg_weight * _bpr(u, f_pos, f_neg, ok)
        return loss

    def score(self, users: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        user_vec, item_vec = self._full()
        return self.dot_scores(user_vec[users], item_vec, items)

    def item_embeddings(self) -> torch.Tensor:
        return self._full()[1].detach()

    def user_embeddings(self) -> torch.Tensor:
        return self._full()[0].detach()


def _bpr(
    u: torch.Tensor, p: torch.Tensor, n: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """-log sigmoid(u.p - u.n), averaged over rows where ``weight`` is True (all if None)."""
    pos, neg = pos_neg_scores(u, p, n)
    if neg.dim() == 2:
        pos = pos.unsqueeze(1)
    loss = nn.functional.softplus(neg - pos)
    if loss.dim() == 2:
        loss = loss.mean(dim=1)
    if weight is None:
        return loss.mean()
    w = weight.to(loss.dtype)
    return (loss * w).sum() / w.sum().clamp_min(1.0)
