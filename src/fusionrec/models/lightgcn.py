"""LightGCN: linear propagation of id embeddings over the normalised user-item graph.

He et al., "LightGCN: Simplifying and Powering Graph Convolution Network for
Recommendation", SIGIR 2020. Final embedding = mean of the layer-0..L embeddings.
"""

from __future__ import annotations

import torch

from fusionrec.models.base import (
    ForwardRecommender,
    Params,
    TrainData,
    bpr_loss,
    gather_rows,
    id_embeddings,
    l2_reg,
    pos_neg_scores,
    register,
)
from fusionrec.models.graph import SparseGraph, normalized_bipartite


class LightGCNParams(Params):
    embedding_size: int = 64
    n_layers: int = 2
    reg_weight: float = 1e-4


def propagate(adj: SparseGraph, ego: torch.Tensor, n_layers: int) -> torch.Tensor:
    """Mean of ``ego`` and its ``n_layers`` successive sparse propagations."""
    total, h = ego, ego
    for _ in range(n_layers):
        h = adj(h)
        total = total + h
    return total / (n_layers + 1)


@register
class LightGCN(ForwardRecommender):
    name = "lightgcn"
    ParamsSchema = LightGCNParams

    def __init__(self, data: TrainData, params: LightGCNParams) -> None:
        super().__init__(data, params)
        self.user_emb, self.item_emb = id_embeddings(
            data.n_users, data.n_items, params.embedding_size
        )
        self.adj = normalized_bipartite(data.train_matrix)

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        def compute() -> tuple[torch.Tensor, torch.Tensor]:
            ego = torch.cat([self.user_emb.weight, self.item_emb.weight], dim=0)
            out = propagate(self.adj, ego, self.params.n_layers)
            return out[: self.n_users], out[self.n_users :]

        return self.cached("propagated", compute)

    def calculate_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        users, items = self.forward()
        pos_items, neg_items = batch["pos_items"], batch["neg_items"]
        u = users[batch["users"]]
        p, n = gather_rows(items, pos_items, neg_items)
        pos, neg = pos_neg_scores(u, p, n)
        reg = l2_reg(
            self.user_emb(batch["users"]), *gather_rows(self.item_emb.weight, pos_items, neg_items)
        )
        return bpr_loss(pos, neg) + self.params.reg_weight * reg
