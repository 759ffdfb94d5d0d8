"""MGCN: multi-view graph convolution for multimedia recommendation.

Yu, Li, Wang, Zhang, Chen, "Multi-View Graph Convolutional Network for Multimedia
Recommendation", ACM MM 2023. Three ideas, each mirrored here:

1. **Behaviour-guided purifier** — raw modality features are noisy for recommendation, so
   each modality's item vector is the item's *id* embedding gated by its projected features:
   e_m = e_id * sigmoid(W_m (P_m x_m) + b_m). Behaviour decides what the content may modulate.
2. **Two views** — a user-item view (LightGCN over interactions, mean of layers) and, per
   modality, an item-item view: the purified vectors propagated over a frozen sparse kNN
   graph of that modality, with users read out as R_hat @ item vectors.
3. **Behaviour-aware fuser** — attention over modalities extracts the common part
   (softmax of q(tanh(W e_m))), each modality keeps its specific part e_m - common, gated by a
   preference computed from the user-item view; side = mean(common, specific parts).
   Final = user-item view + side.

A self-supervised InfoNCE loss (temperature 0.2) pulls the side view and the user-item view
of the same user/item together. Missing modalities: the kNN graph gives such items no
edges, their modality vector is zero and the fuser's attention skips them. Cold items (no
training interactions) have their never-trained id vector zeroed (``zero_cold_ids``), so
they are represented by their kNN content neighbours — MGCN's item-item view makes it a
content-aware cold-start model for free.
"""

from __future__ import annotations

import torch
from torch import nn

from fusionrec.models.base import Params, TrainData, id_embeddings, register
from fusionrec.models.fusion import PresentRows
from fusionrec.models.graph import SparseGraph
from fusionrec.models.lightgcn import propagate
from fusionrec.models.mm_graph_common import (
    BehaviourSideModel,
    gate,
    modality_item_graph,
    user_item_views,
)


class MGCNParams(Params):
    """Defaults follow MMRec's MGCN configuration."""

    embedding_size: int = 64
    n_ui_layers: int = 2
    n_layers: int = 1
    knn_k: int = 10
    cl_loss: float = 0.01
    reg_weight: float = 1e-4
    temperature: float = 0.2
    #: items without training interactions have untrained id vectors: zero them, so a cold
    #: item is represented only through its content neighbours (not in the paper)
    zero_cold_ids: bool = True


@register
class MGCN(BehaviourSideModel):
    name = "mgcn"
    ParamsSchema = MGCNParams
    requires_features = True

    def __init__(self, data: TrainData, params: MGCNParams) -> None:
        super().__init__(data, params)
        d = params.embedding_size
        feats = data.features
        self.names = feats.names
        self.user_emb, self.item_emb = id_embeddings(data.n_users, data.n_items, d)
        norm, r_hat = user_item_views(data.train_matrix)
        self.adj = SparseGraph(norm, symmetric=True)
        self.r_hat = SparseGraph(r_hat)
        self.ii = nn.ModuleDict()  # per-modality item-item graphs
        self.trs = nn.ModuleDict()
        self.present = nn.ModuleDict()  # packed feature rows (``PresentRows``)
        self.gates = nn.ModuleDict()
        self.prefer = nn.ModuleDict()
        for mod in feats:
            mask = torch.from_numpy(mod.mask)
            self.register_buffer(f"mask_{mod.name}", mask, persistent=False)
            self.present[mod.name] = PresentRows(torch.from_numpy(mod.matrix), mask)
            graph = modality_item_graph(mod, params.knn_k)
            self.ii[mod.name] = SparseGraph(graph)
            self.trs[mod.name] = nn.Linear(mod.dim, d)
            self.gates[mod.name] = gate(d)
            self.prefer[mod.name] = gate(d)
        self.register_warm(data, params.zero_cold_ids)
        self.query_common = nn.Sequential(nn.Linear(d, d), nn.Tanh(), nn.Linear(d, 1, bias=False))

    def views(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(behaviour view: LightGCN over interactions, side view), each [n_users + n_items, d]."""
        item_id = self.item_emb.weight * self.warm
        ego = torch.cat([self.user_emb.weight, item_id], dim=0)
        behaviour = propagate(self.adj, ego, self.params.n_ui_layers)
        mod_views, presents = [], []
        for name in self.names:
            mask = self.modality_mask(name)
            feat = self.present[name].project(self.trs[name])
            item = item_id * self.gates[name](feat) * mask.unsqueeze(1)
            for _ in range(self.params.n_layers):
                item = self.ii[name](item)
            user = self.r_hat(item)
            mod_views.append(torch.cat([user, item], dim=0))
            ones = torch.ones(self.n_users, dtype=torch.bool, device=mask.device)
            presents.append(torch.cat([ones, mask]))
        stacked = torch.stack(mod_views, dim=1)  # [N, M, d]
        present = torch.stack(presents, dim=1)  # [N, M]
        logits = self.query_common(stacked).squeeze(-1).masked_fill(~present, -torch.inf)
        att = torch.nan_to_num(torch.softmax(logits, dim=1), nan=0.0)
        common = torch.einsum("nm,nmd->nd", att, stacked)
        side = common
        for i, name in enumerate(self.names):
            specific = (stacked[:, i] - common) * present[:, i : i + 1]
            side = side + self.prefer[name](behaviour) * specific
        side = side / (len(self.names) + 1)
        return behaviour, side
