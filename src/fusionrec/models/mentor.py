"""MENTOR: multi-level self-supervised learning with ID-guided modality alignment.

Xu, Chen, Yang, Li, Wang, Ngai, "MENTOR: Multi-level Self-supervised Learning for
Multimodal Recommendation", AAAI 2025 (published Recall@20 0.1048 on Amazon Baby).

**Encoders.** For each modality m (and for the item *id*, treated as one more "modality"
whose features are a free item embedding), items get ``h_m = MLP_m(x_m)`` (Linear(d_m, 4d),
LeakyReLU, Linear(4d, d)) and users a free preference ``P_m``; nodes start from
``X_m = normalize([P_m; h_m])`` and a parameter-free GCN on the user-item graph
``A = D^-1/2 [[0, R], [R^T, 0]] D^-1/2`` sums its layers (no mean, no self-loop)::

    H_m = X_m + A X_m + A^2 X_m                                    (n_ui_layers = 2)

**Fusion and the item semantic graph.** Users weight their modalities with a learned
per-user vector w_u; items concatenate theirs, and every item view is enhanced over the
frozen kNN item graph S = sum_m a_m S_m (FREEDOM's, sparse, image weight 0.1)::

    e_u = [w_u1 H_1(u) || ... || w_uM H_M(u)]
    e_i = h_i + S^L h_i,   h_i = [H_1(i) || ... || H_M(i)]          (L = n_mm_layers)

and ``y_ui = e_u . e_i``, trained with BPR. The id view (users H_id(u), items
H_id(i) + S^L H_id(i)) and each modality view (H_m(u), H_m(i) + S^L H_m(i)) are kept for
the alignment task; they are not scored.

**Multilevel cross-modal alignment (ID-guided).** Each view's representation matrix R_v
(users and items) is summarised as a Gaussian (mu_v, sigma_v^2) over all its entries, and
the distributions are pulled together at four levels: id vs fused, id vs each modality,
fused vs each modality, modality vs modality (all pairs of {id, fused, m_1..m_M})::

    L_align = sum_{a < b} |mu_a - mu_b| + |sigma_a^2 - sigma_b^2|

Matching moments rather than vectors aligns the modalities' *distributions* with the id
view (which carries interaction history) without forcing item-wise agreement between
noisy content views.

**General feature enhancement.** At the *feature* level, the fused vectors are masked by
dropout and must agree with an MLP projection of themselves (stop-gradient on the masked
target); at the *graph* level, two views are built with random perturbations
``h <- h + sign(h) * eps * normalize(U(0,1))`` after every GCN layer (SimGCL) and
contrasted with InfoNCE (temperature tau)::

    L_F = 2 - cos(MLP(e_u), sg(drop(e_u))) - cos(MLP(e_i), sg(drop(e_i)))
    L_G = InfoNCE(e'_u, e''_u) + InfoNCE(e'_i, e''_i)

**Total.** ``L = L_BPR + lambda_reg (mean P_m[u]^2 + mean w^2) + lambda_align L_align
+ lambda_f L_F + lambda_g L_G``.

Differences from the authors' code, and why:

* feature masking: the authors compute both the masked and the MLP branch under
  ``torch.no_grad``, so their L_F is a constant with no gradient; here the MLP branch is
  online (BM3-style stop-gradient only on the masked target), as the paper describes;
* graph perturbation: the authors build the two noisy views with two *extra* GCN encoders
  per modality that are never used for scoring (so L_G only reaches the user weights);
  here both noisy views share the scoring encoders, so L_G regularises what is scored;
* L_F is computed on the batch's users and positive items and L_G on the batch's distinct
  users and positive items (the authors use every user and item: an n x n similarity
  matrix per step); the alignment moments still use the full matrices, as they are cheap;
* BPR uses the natural log (the authors' log2 scales it by 1.44);
* any number of modalities (the authors hard-code image + text); the duplicated 2d guide
  views of the code are d-dimensional here (duplicating columns changes no moment).

Missing modalities: a missing item's modality vector h_m is zeroed before normalisation,
so it is represented through its users and content neighbours only; the kNN graphs give it
no edges and the remaining modalities' weights are renormalised (``item_graph``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from fusionrec.models.base import (
    ForwardRecommender,
    Params,
    TrainData,
    bpr_loss,
    pos_neg_scores,
    register,
)
from fusionrec.models.freedom import frozen_item_graph
from fusionrec.models.fusion import ModalityProjector
from fusionrec.models.graph import SparseGraph
from fusionrec.models.mm_graph_common import user_item_views
from fusionrec.models.multitask_heads import one_way_info_nce

ID = "id"


class MENTORParams(Params):
    """Defaults: the authors' configuration (``configs/model/MENTOR.yaml``; train lr 1e-4
    there); where it gives a grid, the value marked below."""

    embedding_size: int = 64
    #: user-item GCN layers (the authors' GCN has two propagation steps)
    n_ui_layers: int = 2
    #: item semantic graph layers (authors: n_mm_layers 1)
    n_mm_layers: int = 1
    knn_k: int = 10
    #: weight of the image kNN graph; the other modalities share the rest (authors 0.1)
    image_weight: float = 0.1
    #: L2 on the batch users' modality preferences and the modality weights (authors 1e-3)
    reg_weight: float = 1e-3
    #: multilevel alignment weight (authors 0.1)
    align_weight: float = 0.1
    #: feature-masking weight (authors 1.5; their grid 1..3)
    mask_weight_f: float = 1.5
    #: graph-perturbation contrast weight (authors' grid [1e-4, 1e-3]; upper value)
    mask_weight_g: float = 1e-3
    #: dropout that masks the fused features (authors 0.5)
    dropout: float = 0.5
    #: InfoNCE temperature (authors' grid [0.2, 0.4, 0.6]; lowest value)
    temperature: float = 0.2
    #: size of the SimGCL perturbation after each GCN layer (authors' fixed 0.1)
    noise_eps: float = 0.1


@register
class MENTOR(ForwardRecommender):
    name = "mentor"
    ParamsSchema = MENTORParams
    requires_features = True

    def __init__(self, data: TrainData, params: MENTORParams) -> None:
        super().__init__(data, params)
        d = params.embedding_size
        self.names = data.features.names
        self.projector = ModalityProjector(data.features, d, hidden=4 * d)
        graph, _ = frozen_item_graph(self.projector, params.knn_k, params.image_weight)
        self.mm_adj = SparseGraph(graph)
        norm, _ = user_item_views(data.train_matrix)
        self.adj = SparseGraph(norm, symmetric=True)
        self.item_id = nn.Parameter(nn.init.xavier_normal_(torch.empty(data.n_items, d)))
        self.id_mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.LeakyReLU(), nn.Linear(4 * d, d))
        self.prefs = nn.ParameterDict(
            {
                name: nn.Parameter(nn.init.xavier_normal_(torch.empty(data.n_users, d)))
                for name in [*self.names, ID]
            }
        )
        weights = nn.init.xavier_normal_(torch.empty(data.n_users, len(self.names)))
        self.user_weight = nn.Parameter(torch.softmax(weights, dim=1))
        self.feature_mlp = nn.Linear(len(self.names) * d, len(self.names) * d)

    # -- encoders -------------------------------------------------------------------------
    def _item_features(self, name: str) -> torch.Tensor:
        if name == ID:
            return self.id_mlp(self.item_id)
        mask = self.projector.mask(name).unsqueeze(1)
        return self.projector.project(name) * mask

    def modality_features(self) -> list[torch.Tensor]:
        """Every modality's item vectors h_m (zero where the modality is missing)."""
        return [self._item_features(name) for name in self.names]

    def _encode(self, names: list[str], items: list[torch.Tensor], perturb: bool) -> torch.Tensor:
        """H_v of the named views, [n_users + n_items, V, d]: x + A x + A^2 x + ..., one sparse
        product per layer for all views at once (the graph is shared), with SimGCL noise
        per view after each layer when ``perturb``."""
        nodes = [torch.cat([self.prefs[n], h]) for n, h in zip(names, items, strict=True)]
        x = F.normalize(torch.stack(nodes, dim=1), dim=-1)
        shape = x.shape
        out, h = x, x
        for _ in range(self.params.n_ui_layers):
            h = self.adj(h.reshape(shape[0], -1)).view(shape)
            if perturb:  # sign() has zero gradient: the noise is a constant for autograd
                noise = F.normalize(torch.rand_like(h), dim=-1).mul_(self.params.noise_eps)
                h = h + noise.mul_(torch.sign(h.detach()))
            out = out + h
        return out

    def _fuse(self, encoded: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Fused users (modality views weighted by w_u, concatenated: [n_users, M d]) and
        every view's items enhanced over the item graph, concatenated ([n_items, V d], the
        modalities first, so the fused items are the first M d columns)."""
        n, m = self.n_users, len(self.names)
        users = (self.user_weight.unsqueeze(-1) * encoded[:n, :m]).flatten(1)
        items = encoded[n:].flatten(1)
        graph = items
        for _ in range(self.params.n_mm_layers):
            graph = self.mm_adj(graph)
        return users, items + graph

    def views(self, feats: list[torch.Tensor]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """(users, items) of the fused view (key ``fused``), of every modality and of the id
        view: the alignment task's levels."""
        names = [*self.names, ID]
        encoded = self._encode(names, [*feats, self._item_features(ID)], perturb=False)
        users, items = self._fuse(encoded)
        n, d = self.n_users, self.params.embedding_size
        out = {"fused": (users, items[:, : len(self.names) * d])}
        for v, name in enumerate(names):
            out[name] = (encoded[:n, v], items[:, v * d : (v + 1) * d])
        return out

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        def compute() -> tuple[torch.Tensor, torch.Tensor]:
            return self._fuse(self._encode(self.names, self.modality_features(), perturb=False))

        return self.cached("fused", compute)

    # -- self-supervised tasks ------------------------------------------------------------
    @staticmethod
    def alignment_loss(views: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """Sum over every pair of views of |mu_a - mu_b| + |var_a - var_b|, each view's
        moments taken over all entries of its user and item matrices."""
        moments = []
        for users, items in views.values():
            flat = torch.cat([users.reshape(-1), items.reshape(-1)])
            moments.append(torch.stack([flat.mean(), flat.var()]))
        stacked = torch.stack(moments)  # [V, 2]
        a, b = torch.triu_indices(len(moments), len(moments), offset=1, device=stacked.device)
        return (stacked[a] - stacked[b]).abs().sum()

    def feature_mask_loss(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """2 - cos(MLP(e_u), drop(e_u)) - cos(MLP(e_i), drop(e_i)); dropped targets detached."""
        loss = users.new_zeros(())
        for e in (users, items):
            target = F.dropout(e.detach(), self.params.dropout, training=True)
            loss = loss + 1 - F.cosine_similarity(self.feature_mlp(e), target, dim=-1).mean()
        return loss

    def perturbation_loss(
        self, feats: list[torch.Tensor], u_idx: torch.Tensor, i_idx: torch.Tensor
    ) -> torch.Tensor:
        """InfoNCE between two independently perturbed fused views of the batch's distinct
        users and items (a repeated row would be its own negative), both from the scoring
        encoders applied to the items' modality vectors ``feats``."""
        u_idx, i_idx = torch.unique(u_idx), torch.unique(i_idx)

        def perturbed() -> tuple[torch.Tensor, torch.Tensor]:
            return self._fuse(self._encode(self.names, feats, perturb=True))

        (u1, i1), (u2, i2) = perturbed(), perturbed()
        t = self.params.temperature
        return one_way_info_nce(u1[u_idx], u2[u_idx], t) + one_way_info_nce(i1[i_idx], i2[i_idx], t)

    def loss_terms(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Every unweighted term of the objective (tests check each reaches its parameters)."""
        feats = self.modality_features()
        views = self.views(feats)
        users, items = views["fused"]
        u_idx, p_idx, n_idx = batch["users"], batch["pos_items"], batch["neg_items"]
        u = users[u_idx]
        pos, neg = pos_neg_scores(u, items[p_idx], items[n_idx])
        reg = sum(self.prefs[name][u_idx].pow(2).mean() for name in self.names)
        terms = {
            "bpr": bpr_loss(pos, neg),
            "reg": reg + self.user_weight.pow(2).mean(),
            "align": self.alignment_loss(views),
            "mask_f": self.feature_mask_loss(u, items[p_idx]),
        }
        if self.params.mask_weight_g > 0:
            terms["mask_g"] = self.perturbation_loss(feats, u_idx, p_idx)
        return terms

    def calculate_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        p = self.params
        weights = {
            "bpr": 1.0,
            "reg": p.reg_weight,
            "align": p.align_weight,
            "mask_f": p.mask_weight_f,
            "mask_g": p.mask_weight_g,
        }
        return sum(weights[k] * v for k, v in self.loss_terms(batch).items())

    # -- contract -------------------------------------------------------------------------
