"""Multi-task fusion: one fused item representation trained for recommendation and for
auxiliary content tasks at once.

The shared item vector is ``fusion(ModalityProjector(features)) + id embedding`` (optionally
propagated over the user-item graph as in LightGCN). Besides BPR it is trained on:

* attribute classification from ``TrainData.item_labels`` (multi-hot -> binary
  cross-entropy, e.g. MovieLens genres; integer classes -> cross-entropy; floats ->
  regression, e.g. an item's mean training rating);
* text-image alignment: InfoNCE between the projections of two modalities of the same item,
  only for items where both are present.

Why: the auxiliary tasks shape the content projection with supervision that exists for
every item, including items nobody has interacted with yet, which is what lets the model
score cold items from content. Losses are combined either with fixed weights or with learned
homoscedastic-uncertainty weights (Kendall et al., "Multi-Task Learning Using Uncertainty to
Weigh Losses for Scene Geometry and Semantics", CVPR 2018): L = sum_i exp(-s_i) L_i + s_i.
"""

from __future__ import annotations

from itertools import combinations
from typing import Literal

import torch
from torch import nn

from fusionrec.errors import ModelError
from fusionrec.models.base import (
    Params,
    Recommender,
    TrainData,
    bpr_loss,
    l2_reg,
    pos_neg_scores,
    register,
)
from fusionrec.models.fusion import ModalityProjector, make_fusion
from fusionrec.models.graph import normalized_bipartite
from fusionrec.models.lightgcn import propagate
from fusionrec.models.multitask_heads import TaskHead, info_nce, make_weighting


class MTLFusionParams(Params):
    embedding_size: int = 64
    fusion: Literal["concat", "sum", "gated"] = "gated"
    #: hidden width of each modality's projection MLP (None = one linear layer)
    projector_hidden: int | None = 256
    use_id_embedding: bool = True
    #: LightGCN propagation layers over the user-item graph (0 = plain dot product)
    n_layers: int = 2
    reg_weight: float = 1e-4
    #: which ``item_labels`` become classification/regression tasks (None = all of them)
    label_tasks: list[str] | None = None
    rec_weight: float = 1.0
    label_weight: float = 0.1
    align_weight: float = 0.05
    #: "fixed" uses the weights above; "uncertainty" learns them (tasks with weight 0 stay off)
    weighting: Literal["fixed", "uncertainty"] = "fixed"
    temperature: float = 0.2
    head_hidden: int | None = None
    #: random extra items per step for the auxiliary tasks, so unpopular items are trained too
    aux_sample: int = 512
    #: probability of dropping an item's id vector during training (DropoutNet, Volkovs et
    #: al., NeurIPS 2017): forces the content part to score items alone, as it must for
    #: cold items. 0 keeps the warm-item optimum. On movielens-100k-mm cold items (one seed,
    #: ``bench_mm_models_b.py --sections cold``) 0.5 did not improve *validation* cold
    #: Recall@20 (0.397 vs 0.411 without), so it is not a default; try it on validation.
    id_dropout: float = 0.0


@register
class MTLFusion(Recommender):
    """BPR + auxiliary attribute / alignment tasks on a shared fused item representation."""

    name = "mtl-fusion"
    ParamsSchema = MTLFusionParams
    requires_features = True

    def __init__(self, data: TrainData, params: MTLFusionParams) -> None:
        super().__init__(data, params)
        d = params.embedding_size
        self.projector = ModalityProjector(data.features, d, params.projector_hidden)
        self.fusion = make_fusion(params.fusion, len(self.projector.names), d)
        self.user_emb = nn.Embedding(data.n_users, d)
        nn.init.xavier_uniform_(self.user_emb.weight)
        self.item_emb = nn.Embedding(data.n_items, d) if params.use_id_embedding else None
        if self.item_emb is not None:
            nn.init.xavier_uniform_(self.item_emb.weight)
        # Items without training interactions have untrained id vectors: score them by content.
        warm = torch.as_tensor(data.item_popularity > 0, dtype=torch.float32)
        self.register_buffer("warm", warm.unsqueeze(1), persistent=False)
        if params.n_layers > 0:
            self.adj = normalized_bipartite(data.train_matrix)

        wanted = params.label_tasks if params.label_tasks is not None else list(data.item_labels)
        missing = [k for k in wanted if k not in data.item_labels]
        if missing:
            raise ValueError(f"label_tasks {missing} not in item_labels {list(data.item_labels)}")
        self.heads = nn.ModuleDict()
        if params.label_weight > 0:
            for key in wanted:
                self.heads[key] = TaskHead(d, data.item_labels[key], hidden=params.head_hidden)
        self.align_pairs = (
            list(combinations(range(len(self.projector.names)), 2))
            if params.align_weight > 0
            else []
        )
        # a task of weight 0 is off, the recommendation task too (learned weights would
        # otherwise turn it back on)
        self.task_names = ["rec"] if params.rec_weight > 0 else []
        self.task_names += [f"label:{k}" for k in self.heads]
        self.task_names += ["align"] if self.align_pairs else []
        fixed = [params.rec_weight] if params.rec_weight > 0 else []
        fixed += [params.label_weight] * len(self.heads)
        fixed += [params.align_weight] if self.align_pairs else []
        if not self.task_names:
            raise ModelError(
                "mtl-fusion has no task to train: rec_weight is 0 and no label or alignment "
                "task is on (label_weight, align_weight, the dataset's item labels)"
            )
        self.weighting = make_weighting(params.weighting, fixed)

    # -- representations ------------------------------------------------------------------
    def content(self) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """Fused content vectors [n_items, d] plus the per-modality projections and masks."""
        xs, masks = self.projector()
        return self.fusion(xs, masks), xs, masks

    def _ego_items(self, fused: torch.Tensor) -> torch.Tensor:
        if self.item_emb is None:
            return fused
        keep = self.warm
        if self.training and self.params.id_dropout > 0:
            drop = torch.rand_like(keep) < self.params.id_dropout
            keep = keep * (~drop).to(keep.dtype)
        return fused + self.item_emb.weight * keep

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        def compute() -> tuple[torch.Tensor, torch.Tensor]:
            fused, _, _ = self.content()
            return self._propagate(self._ego_items(fused))

        return self.cached("propagated", compute)

    def _propagate(self, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.params.n_layers == 0:
            return self.user_emb.weight, items
        ego = torch.cat([self.user_emb.weight, items], dim=0)
        out = propagate(self.adj, ego, self.params.n_layers)
        return out[: self.n_users], out[self.n_users :]

    # -- training -------------------------------------------------------------------------
    def _aux_items(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        parts = [batch["pos_items"].reshape(-1)]
        if "neg_items" in batch:
            parts.append(batch["neg_items"].reshape(-1))
        if self.params.aux_sample > 0:
            dev = batch["pos_items"].device
            parts.append(torch.randint(0, self.n_items, (self.params.aux_sample,), device=dev))
        return torch.unique(torch.cat(parts))

    def task_losses(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each task's mean loss on this batch (before weighting)."""
        fused, xs, masks = self.content()
        users, items = self._propagate(self._ego_items(fused))
        u = users[batch["users"]]
        pos, neg = pos_neg_scores(u, items[batch["pos_items"]], items[batch["neg_items"]])
        ego_i = fused + (self.item_emb.weight if self.item_emb is not None else 0.0)
        reg = l2_reg(
            self.user_emb(batch["users"]), ego_i[batch["pos_items"]], ego_i[batch["neg_items"]]
        )
        out = {"rec": bpr_loss(pos, neg) + self.params.reg_weight * reg}
        aux = self._aux_items(batch)
        for key, head in self.heads.items():
            out[f"label:{key}"] = head.loss(fused, aux)
        if self.align_pairs:
            terms = []
            for a, b in self.align_pairs:
                both = aux[masks[a][aux] & masks[b][aux]]
                terms.append(info_nce(xs[a][both], xs[b][both], self.params.temperature))
            out["align"] = torch.stack(terms).mean()
        return out

    def calculate_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        losses = self.task_losses(batch)
        return self.weighting(torch.stack([losses[name] for name in self.task_names]))

    def task_weights(self) -> dict[str, float]:
        """Current effective weight of every task (fixed, or exp(-s_i) when learned)."""
        return dict(zip(self.task_names, self.weighting.weights().tolist(), strict=True))

    # -- inference ------------------------------------------------------------------------
    def score(self, users: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        user_vec, item_vec = self.forward()
        return self.dot_scores(user_vec[users], item_vec, items)

    def predict_labels(self, key: str) -> torch.Tensor:
        """Head outputs (logits / standardised values) for every item, e.g. genre scores."""
        with torch.no_grad():
            fused, _, _ = self.content()
            return self.heads[key](fused)

    def item_embeddings(self) -> torch.Tensor:
        return self.forward()[1].detach()

    def user_embeddings(self) -> torch.Tensor:
        return self.forward()[0].detach()
