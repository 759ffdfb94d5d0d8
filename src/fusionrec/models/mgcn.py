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

from fusionrec.models.base import (
    ForwardRecommender,
    Params,
    TrainData,
    bpr_loss,
    id_embeddings,
    l2_reg,
    pos_neg_scores,
    register,
)
from fusionrec.models.fusion import PresentRows
from fusionrec.models.graph import SparseGraph
from fusionrec.models.lightgcn import propagate
from fusionrec.models.mm_graph_common import modality_item_graph, user_item_views
from fusionrec.models.multitask_heads import batch_info_nce


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


def _gate(d: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d, d), nn.Sigmoid())


@register
class MGCN(ForwardRecommender):
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
            self.gates[mod.name] = _gate(d)
            self.prefer[mod.name] = _gate(d)
        warm = data.item_popularity > 0 if params.zero_cold_ids else data.item_popularity >= 0
        self.register_buffer("warm", torch.as_tensor(warm, dtype=torch.float32).unsqueeze(1),
                             persistent=False)  # fmt: skip
        self.query_common = nn.Sequential(nn.Linear(d, d), nn.Tanh(), nn.Linear(d, 1, bias=False))

    def _buf(self, kind: str, name: str) -> torch.Tensor:
        return getattr(self, f"{kind}_{name}")

    def views(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(user-item view, side view), each [(n_users + n_items), d]."""
        item_id = self.item_emb.weight * self.warm
        ego = torch.cat([self.user_emb.weight, item_id], dim=0)
        content = propagate(self.adj, ego, self.params.n_ui_layers)
        mod_views, presents = [], []
        for name in self.names:
            mask = self._buf("mask", name)
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
            side = side + self.prefer[name](content) * specific
        side = side / (len(self.names) + 1)
        return content, side

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        def compute() -> tuple[torch.Tensor, torch.Tensor]:
            content, side = self.views()
            out = content + side
            return out[: self.n_users], out[self.n_users :]

        return self.cached("propagated", compute)

    def calculate_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        content, side = self.views()
        full = content + side
        users, items = full[: self.n_users], full[self.n_users :]
        u_idx, p_idx, n_idx = batch["users"], batch["pos_items"], batch["neg_items"]
        u, p, n = users[u_idx], items[p_idx], items[n_idx]
        pos, neg = pos_neg_scores(u, p, n)
        loss = bpr_loss(pos, neg) + self.params.reg_weight * l2_reg(u, p, n)
        if self.params.cl_loss > 0:
            t = self.params.temperature
            off = self.n_users
            cl = batch_info_nce(side[off:], content[off:], p_idx, t)
            cl = cl + batch_info_nce(side[:off], content[:off], u_idx, t)
            loss = loss + self.params.cl_loss * cl
        return loss

    def behaviour_embeddings(self) -> torch.Tensor:
        """The user-item view of the items (before the content side view is added)."""
        return self.cached("behaviour", lambda: self.views()[0][self.n_users :]).detach()
