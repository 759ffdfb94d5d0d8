"""VBPR: matrix factorisation with a content channel, so items are scored by what they are.

He & McAuley, "VBPR: Visual Bayesian Personalized Ranking from Implicit Feedback", AAAI 2016.
The preference of user u for item i is

    x_ui = b_i + gamma_u . gamma_i + theta_u . (E f_i) + beta' . (E f_i)

where gamma are collaborative id factors, f_i the item's content features and E a learned
projection to ``embedding_size``; theta_u is the user's taste in content space and beta' a
content bias (the paper's beta'^T f_i, taken after the projection, which is still linear in
f_i). The paper used one visual feature; here f_i is every available modality (text, image,
audio...), each projected then fused by a mask-aware operator from ``fusion.py``
(``concat``, the paper's E over the concatenated features, is the default), so an item with
a missing modality is described by the modalities it has.

Why content: the id factors only exist for items seen in training. With
``cold_content_only`` (default) items without training interactions have their id terms
(gamma_i, b_i) zeroed both when training and scoring, so a new item is ranked purely from
its content instead of from an untrained (or negatively-sampled-only) random id vector.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from fusionrec.models.base import (
    Params,
    Recommender,
    TrainData,
    bpr_loss,
    distinct_items,
    l2_reg,
    register,
)
from fusionrec.models.fusion import ModalityProjector, make_fusion


class VBPRParams(Params):
    #: Size of each half: id factors gamma and content factors theta (MMRec: 64 + 64).
    embedding_size: int = 64
    #: A value from MMRec's grid [2.0, 1.0, 0.1, 0.01, 1e-3, 1e-4, 1e-5], not chosen on this
    #: project's data: tune it on validation (``fusionrec tune``) for a new dataset.
    reg_weight: float = 1e-3
    #: Mask-aware operator combining the projected modalities: concat | sum | gated.
    fusion: Literal["concat", "sum", "gated"] = "concat"
    #: Hidden size of a 2-layer MLP projector per modality; None = the paper's linear E.
    projector_hidden: int | None = None
    #: Dropout on the fused content vector while training.
    dropout: float = 0.0
    #: Zero the id terms of items that have no training interactions (cold items).
    cold_content_only: bool = True
    #: Learn a per-item bias b_i (warm items only when ``cold_content_only``).
    item_bias: bool = True


@register
class VBPR(Recommender):
    name = "vbpr"
    ParamsSchema = VBPRParams
    requires_features = True
    scores_by_dot_product = False  # + b_i + beta'.f_i, an item term outside the vectors

    def __init__(self, data: TrainData, params: VBPRParams) -> None:
        super().__init__(data, params)
        d = params.embedding_size
        self.user_id = nn.Embedding(data.n_users, d)
        self.user_content = nn.Embedding(data.n_users, d)
        self.item_id = nn.Embedding(data.n_items, d)
        for emb in (self.user_id, self.user_content, self.item_id):
            nn.init.xavier_uniform_(emb.weight)
        self.item_bias = nn.Embedding(data.n_items, 1) if params.item_bias else None
        if self.item_bias is not None:
            nn.init.zeros_(self.item_bias.weight)
        self.projector = ModalityProjector(data.features, d, hidden=params.projector_hidden)
        self.fusion = make_fusion(params.fusion, len(data.features), d)
        self.content_bias = nn.Linear(d, 1, bias=False)
        nn.init.zeros_(self.content_bias.weight)
        self.drop = nn.Dropout(params.dropout)
        warm = torch.ones(data.n_items)
        if params.cold_content_only:
            warm = torch.from_numpy(data.item_popularity > 0).float()
        self.register_buffer("warm", warm.unsqueeze(1), persistent=False)
        self.register_buffer("has_content", self._has_content().float().unsqueeze(1),
                             persistent=False)  # fmt: skip

    def _has_content(self) -> torch.Tensor:
        masks = [self.projector.mask(n) for n in self.projector.names]
        return torch.stack(masks, dim=1).any(dim=1)

    def content(self) -> torch.Tensor:
        """Fused content vector E f_i of every item [n_items, d] (zero without any modality)."""

        def compute() -> torch.Tensor:
            xs, masks = self.projector()
            return self.fusion(xs, masks) * self.has_content

        return self.cached("content", compute)

    def content_rows(self, items: torch.Tensor) -> torch.Tensor:
        """``content()[items]``, projecting only those items: a BPR step reads its batch's
        items alone, so projecting the catalogue (twice, for positives and negatives) was
        most of an epoch on a 10k-item catalogue."""
        xs, masks = self.projector.project_rows(items)
        return self.fusion(xs, masks) * self.has_content[items]

    def _item_parts(self, items: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        content = self.content()
        gamma = self.item_id.weight * self.warm
        bias = self.item_bias.weight * self.warm if self.item_bias is not None else None
        if items is not None:
            content, gamma = content[items], gamma[items]
            bias = bias[items] if bias is not None else None
        return gamma, content, bias

    def _pair_scores(
        self, users: torch.Tensor, items: torch.Tensor, content: torch.Tensor
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Scores of aligned (user, item) rows ([B] or [B, n] items, with their ``content``
        rows) and the tensors to regularise."""
        gamma = self.item_id(items) * self.warm[items]
        content = self.drop(content)
        gu, tu = self.user_id(users), self.user_content(users)
        if items.dim() == 2:
            gu, tu = gu.unsqueeze(1), tu.unsqueeze(1)
        s = (gu * gamma).sum(-1) + (tu * content).sum(-1) + self.content_bias(content).squeeze(-1)
        if self.item_bias is not None:
            s = s + (self.item_bias(items) * self.warm[items]).squeeze(-1)
        return s, [gamma.reshape(-1, gamma.shape[-1]), content.reshape(-1, content.shape[-1])]

    def calculate_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        users, pos_items, neg_items = batch["users"], batch["pos_items"], batch["neg_items"]
        items, at_pos, at_neg = distinct_items(pos_items, neg_items)
        content = self.content_rows(items)
        pos, pos_reg = self._pair_scores(users, pos_items, content[at_pos])
        neg, neg_reg = self._pair_scores(users, neg_items, content[at_neg])
        user_reg = torch.cat([self.user_id(users), self.user_content(users)], dim=1)
        reg = l2_reg(user_reg) + l2_reg(*pos_reg) + l2_reg(*neg_reg)
        return bpr_loss(pos, neg) + self.params.reg_weight * reg

    def score(self, users: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        gamma, content, bias = self._item_parts(items)
        s = self.user_id(users) @ gamma.T + self.user_content(users) @ content.T
        return s + self._item_terms(content, bias).unsqueeze(0)

    def _item_terms(self, content: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        """b_i + beta'.(E f_i): what an item scores on its own, beyond the two dot products."""
        term = self.content_bias(content).squeeze(-1)
        return term if bias is None else term + bias.squeeze(-1)

    def item_embeddings(self) -> torch.Tensor:
        gamma, content, _ = self._item_parts(None)
        return torch.cat([gamma, content], dim=1).detach()

    def user_embeddings(self) -> torch.Tensor:
        return torch.cat([self.user_id.weight, self.user_content.weight], dim=1).detach()

    def item_score_offsets(self) -> torch.Tensor:
        _, content, bias = self._item_parts(None)
        return self._item_terms(content, bias).detach()

    def behaviour_embeddings(self) -> torch.Tensor:
        """The collaborative id factors gamma_i (zero for cold items)."""
        return (self.item_id.weight * self.warm).detach()
