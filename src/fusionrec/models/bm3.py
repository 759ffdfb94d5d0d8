"""BM3: self-supervised multimodal recommendation without negative sampling.

Zhou et al., "Bootstrap Latent Representations for Multi-modal Recommendation", WWW 2023.

What is fused and why: a LightGCN backbone gives user and item embeddings (items also keep a
residual of their id embedding); each modality's features are projected to the same space.
Instead of contrasting against sampled negatives (costly, and a sampled "negative" is often
an unobserved positive), BM3 bootstraps: a shared predictor maps the online
representations, and the target view is the same representation with dropout applied
(no gradient). Losses, all 1 - cosine:

* user-item alignment: predictor(user) against the dropped-out interacted item, and
  predictor(item) against the dropped-out user (both directions);
* inter-modality: predictor(projected modality feature) against the dropped-out item
  embedding, which ties content to collaborative signal;
* intra-modality (masked feature reconstruction): predictor(modality feature) against its
  own randomly masked (dropout) version;

plus ``reg_weight`` x the L2 norm of the online embeddings (MMRec's EmbLoss). Dropout
views make the target differ from the online branch, so the predictor cannot collapse to
the identity; the stop-gradient on the target prevents the trivial constant solution.

Missing modalities: the two modality losses are averaged only over the batch items that
have the modality. Scores are predictor(user) . predictor(item), as in MMRec.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from fusionrec.models.base import Params, Recommender, TrainData, id_embeddings, register
from fusionrec.models.fusion import ModalityProjector
from fusionrec.models.graph import normalized_bipartite
from fusionrec.models.lightgcn import propagate


class BM3Params(Params):
    embedding_size: int = 64
    #: LightGCN layers (MMRec grid [1, 2]).
    n_layers: int = 1
    #: Dropout that makes the target views (MMRec grid [0.3, 0.5]).
    dropout: float = 0.3
    #: Weight of the embedding-norm regulariser (MMRec grid [0.1, 0.01]).
    reg_weight: float = 0.1
    #: Weight of the multimodal (inter + intra modality) losses.
    cl_weight: float = 2.0
    #: z-score each raw feature dimension before the projections (``ModalityProjector``)
    standardize_features: bool = False


def _cos_loss(
    online: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """1 - cosine(online, target), averaged over rows (over rows where ``mask`` is True)."""
    cos = F.cosine_similarity(online, target.detach(), dim=-1)
    if mask is None:
        return 1.0 - cos.mean()
    w = mask.to(cos.dtype)
    return (w * (1.0 - cos)).sum() / w.sum().clamp_min(1.0)


@register
class BM3(Recommender):
    name = "bm3"
    ParamsSchema = BM3Params
    requires_features = True
    needs_negatives = False

    def __init__(self, data: TrainData, params: BM3Params) -> None:
        super().__init__(data, params)
        d = params.embedding_size
        self.user_emb, self.item_emb = id_embeddings(data.n_users, data.n_items, d)
        self.predictor = nn.Linear(d, d)
        nn.init.xavier_normal_(self.predictor.weight)
        self.projector = ModalityProjector(
            data.features, d, standardize=params.standardize_features
        )
        for lin in self.projector.proj.values():
            nn.init.xavier_normal_(lin.weight)
        self.norm_adj = normalized_bipartite(data.train_matrix)

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Online user and item representations (before the predictor)."""
        ego = torch.cat([self.user_emb.weight, self.item_emb.weight], dim=0)
        out = propagate(self.norm_adj, ego, self.params.n_layers)
        return out[: self.n_users], out[self.n_users :] + self.item_emb.weight

    def calculate_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        p = self.params
        users, items = batch["users"], batch["pos_items"]
        u_all, i_all = self.forward()
        u, i = u_all[users], i_all[items]
        with torch.no_grad():
            u_target = F.dropout(u, p.dropout)
            i_target = F.dropout(i, p.dropout)
        loss = _cos_loss(self.predictor(u), i_target) + _cos_loss(self.predictor(i), u_target)
        mm = u.new_zeros(())
        for name in self.projector.names:
            mask = self.projector.mask(name)[items]
            feat = self.projector.project_at(name, items)
            with torch.no_grad():
                feat_target = F.dropout(feat, p.dropout)
            online = self.predictor(feat)
            mm = mm + _cos_loss(online, i_target, mask) + _cos_loss(online, feat_target, mask)
        # MMRec's EmbLoss: Frobenius norms of the full online matrices / n_items
        reg = (u_all.norm() + i_all.norm()) / self.n_items
        return loss + p.reg_weight * reg + p.cl_weight * mm

    def _predicted(self) -> tuple[torch.Tensor, torch.Tensor]:
        def compute() -> tuple[torch.Tensor, torch.Tensor]:
            u, i = self.forward()
            return self.predictor(u), self.predictor(i)

        return self.cached("predicted", compute)

    def score(self, users: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        user_vec, item_vec = self._predicted()
        return self.dot_scores(user_vec[users], item_vec, items)

    def item_embeddings(self) -> torch.Tensor:
        return self._predicted()[1].detach()

    def user_embeddings(self) -> torch.Tensor:
        return self._predicted()[0].detach()
