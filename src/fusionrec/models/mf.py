"""MF-BPR: matrix factorisation trained with Bayesian personalised ranking.

Rendle et al., "BPR: Bayesian Personalized Ranking from Implicit Feedback", UAI 2009.
"""

from __future__ import annotations

import torch

from fusionrec.models.base import (
    Params,
    Recommender,
    TrainData,
    bpr_loss,
    gather_rows,
    id_embeddings,
    l2_reg,
    pos_neg_scores,
    register,
)


class MFParams(Params):
    embedding_size: int = 64
    reg_weight: float = 1e-4


@register
class MFBPR(Recommender):
    name = "mf-bpr"
    ParamsSchema = MFParams

    def __init__(self, data: TrainData, params: MFParams) -> None:
        super().__init__(data, params)
        self.user_emb, self.item_emb = id_embeddings(
            data.n_users, data.n_items, params.embedding_size
        )

    def calculate_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        u = self.user_emb(batch["users"])
        p, n = gather_rows(self.item_emb.weight, batch["pos_items"], batch["neg_items"])
        loss = bpr_loss(*pos_neg_scores(u, p, n))
        if self.params.reg_weight:  # skipped, not multiplied by zero, when switched off
            loss = loss + self.params.reg_weight * l2_reg(u, p, n)
        return loss

    def score(self, users: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        return self.dot_scores(self.user_emb(users), self.item_emb.weight, items)

    def item_embeddings(self) -> torch.Tensor:
        return self.item_emb.weight.detach()

    def user_embeddings(self) -> torch.Tensor:
        return self.user_emb.weight.detach()
