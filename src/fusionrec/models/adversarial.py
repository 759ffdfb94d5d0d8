"""Adversarial (GAN-style) modality fusion with missing-modality completion.

Modality-specific encoders map every modality into one shared space. Two adversarial games
shape that space:

* **alignment** — a modality discriminator tries to tell which modality an embedding came
  from; the encoders receive its gradient reversed (Ganin & Lempitsky, "Unsupervised Domain
  Adaptation by Backpropagation", ICML 2015), so they learn modality-invariant embeddings
  and a text vector and an image vector of similar items become interchangeable;
* **completion** — per modality, a generator predicts that modality's shared embedding from
  the other present modalities. It is trained on items that have both (reconstruction loss)
  against a real/fake critic (adversarial loss, as in conditional GANs for cross-modal
  generation), and at scoring time fills in items whose modality is missing
  (``complete_missing``), so they are not represented by fewer signals than the rest.

The fused embedding (fusion op from ``fusion.py``) plus an id embedding feeds LightGCN-style
propagation and BPR, like the other content models. ``completion_quality`` measures fill-in
quality against a mean baseline on held-out items.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from fusionrec.data.features import ItemFeatures, ModalityFeatures
from fusionrec.models.base import (
    ForwardRecommender,
    Params,
    TrainData,
    bpr_loss,
    l2_reg,
    pos_neg_scores,
    register,
)
from fusionrec.models.fusion import ModalityProjector, make_fusion
from fusionrec.models.graph import normalized_bipartite
from fusionrec.models.lightgcn import propagate
from fusionrec.models.multitask_heads import info_nce


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, lam: float) -> torch.Tensor:  # type: ignore[override]
        ctx.lam = lam
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        return -ctx.lam * grad, None


def grad_reverse(x: torch.Tensor, lam: float = 1.0) -> torch.Tensor:
    """Identity forward; multiplies the gradient by ``-lam`` backward."""
    return _GradReverse.apply(x, lam)


def _mlp(d_in: int, hidden: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, d_out))


class AdvFusionParams(Params):
    embedding_size: int = 64
    encoder_hidden: int | None = 256
    fusion: Literal["concat", "sum", "gated"] = "gated"
    use_id_embedding: bool = True
    n_layers: int = 2
    reg_weight: float = 1e-4
    #: weight of the modality discriminator's loss; encoders get its gradient reversed
    adv_weight: float = 0.1
    #: how encoders fight the discriminator: "confusion" (match a uniform prediction of a
    #: frozen discriminator; bounded) or "reversal" (gradient reversal of its cross-entropy)
    adversary: Literal["confusion", "reversal"] = "confusion"
    #: strength of the encoders' adversarial term (0 = the discriminator trains alone)
    grl_lambda: float = 1.0
    #: weight of the generator's loss (reconstruction + gen_adv_weight * adversarial)
    gen_weight: float = 0.1
    gen_adv_weight: float = 0.1
    #: fill in missing modalities with the generator when building item vectors. Off by
    #: default: on movielens-100k-mm with 30% of posters hidden, filling them in lowered
    #: *validation* Recall@20 in both settings measured (0.338 -> 0.259 with defaults, 0.290
    #: -> 0.263 standardised + aligned; benchmarks/results/adv_completion.md, one seed); the
    #: generator is still trained and ``completion_quality`` reports how good its fill-in is.
    complete_missing: bool = False
    #: InfoNCE between two modalities of the same item. The discriminator only matches the
    #: modalities' *distributions*, which a collapsed space satisfies trivially; this anchor
    #: keeps items distinguishable. On movielens-100k-mm (one seed, ``bench_mm_models_b.py
    #: --sections warm,cold``) 0.05 lifted *validation* cold-item Recall@20 from 0.17 to 0.33
    #: but lowered warm validation Recall@20 from 0.335 to 0.252, so it is off by default;
    #: turn it on for cold-start use.
    align_weight: float = 0.0
    temperature: float = 0.2
    hidden: int = 128
    aux_sample: int = 512
    #: z-score each raw feature dimension before the encoders (see ``ModalityProjector``)
    standardize_features: bool = False


@register
class AdvFusion(ForwardRecommender):
    """Shared-space encoders aligned adversarially, plus generators for missing modalities."""

    name = "adv-fusion"
    ParamsSchema = AdvFusionParams
    requires_features = True

    def __init__(self, data: TrainData, params: AdvFusionParams) -> None:
        super().__init__(data, params)
        d, h = params.embedding_size, params.hidden
        self.encoders = ModalityProjector(
            data.features, d, params.encoder_hidden, params.standardize_features
        )
        self.names = self.encoders.names
        m = len(self.names)
        self.fusion = make_fusion(params.fusion, m, d)
        self.discriminator = _mlp(d, h, m)
        self.generators = nn.ModuleDict({n: _mlp(d, h, d) for n in self.names}) if m > 1 else None
        self.critics = nn.ModuleDict({n: _mlp(d, h, 1) for n in self.names}) if m > 1 else None
        self.user_emb = nn.Embedding(data.n_users, d)
        nn.init.xavier_uniform_(self.user_emb.weight)
        self.item_emb = nn.Embedding(data.n_items, d) if params.use_id_embedding else None
        if self.item_emb is not None:
            nn.init.xavier_uniform_(self.item_emb.weight)
        warm = torch.as_tensor(data.item_popularity > 0, dtype=torch.float32)
        self.register_buffer("warm", warm.unsqueeze(1), persistent=False)
        if params.n_layers > 0:
            self.adj = normalized_bipartite(data.train_matrix)

    # -- shared space ---------------------------------------------------------------------
    def shared(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per-modality shared embeddings [n_items, d] and presence masks."""
        return self.encoders()

    @staticmethod
    def _others_mean(
        zs: list[torch.Tensor], masks: list[torch.Tensor], target: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Masked mean of the modalities other than ``target`` and whether any is present."""
        num = torch.zeros_like(zs[0])
        cnt = torch.zeros(zs[0].shape[0], 1, device=zs[0].device)
        for j, (z, mk) in enumerate(zip(zs, masks, strict=True)):
            if j != target:
                w = mk.unsqueeze(1).to(z.dtype)
                num = num + z * w
                cnt = cnt + w
        return num / cnt.clamp_min(1.0), cnt.squeeze(1) > 0

    def generate(self, zs: list[torch.Tensor], masks: list[torch.Tensor]) -> list[torch.Tensor]:
        """Generated shared embedding of every modality from the other present ones."""
        if self.generators is None:
            return [z.clone() for z in zs]
        out = []
        for i, name in enumerate(self.names):
            inp, _ = self._others_mean(zs, masks, i)
            out.append(self.generators[name](inp))
        return out

    def completed(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Shared embeddings, with missing modalities filled in when ``complete_missing``."""
        zs, masks = self.shared()
        if not self.params.complete_missing or self.generators is None:
            return zs, masks
        return self.completed_from(zs, masks)

    def completed_from(self, zs: list[torch.Tensor], masks: list[torch.Tensor]
                       ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:  # fmt: skip
        """Replace each missing modality by its generated embedding where another modality
        is present (items with nothing at all stay empty)."""
        gen = self.generate(zs, masks)
        out_z, out_m = [], []
        for i in range(len(zs)):
            _, has_other = self._others_mean(zs, masks, i)
            fill = ~masks[i] & has_other
            out_z.append(torch.where(fill.unsqueeze(1), gen[i], zs[i]))
            out_m.append(masks[i] | fill)
        return out_z, out_m

    # -- recommendation -------------------------------------------------------------------
    def _items_ego(self, zs: list[torch.Tensor], masks: list[torch.Tensor]) -> torch.Tensor:
        fused = self.fusion(zs, masks)
        if self.item_emb is None:
            return fused
        return fused + self.item_emb.weight * self.warm

    def _propagate(self, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.params.n_layers == 0:
            return self.user_emb.weight, items
        ego = torch.cat([self.user_emb.weight, items], dim=0)
        out = propagate(self.adj, ego, self.params.n_layers)
        return out[: self.n_users], out[self.n_users :]

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        def compute() -> tuple[torch.Tensor, torch.Tensor]:
            return self._propagate(self._items_ego(*self.completed()))

        return self.cached("propagated", compute)

    def _aux_items(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        parts = [batch["pos_items"].reshape(-1), batch["neg_items"].reshape(-1)]
        if self.params.aux_sample > 0:
            dev = batch["pos_items"].device
            parts.append(torch.randint(0, self.n_items, (self.params.aux_sample,), device=dev))
        return torch.unique(torch.cat(parts))

    def discriminator_loss(self, zs: list[torch.Tensor], masks: list[torch.Tensor],
                           items: torch.Tensor) -> torch.Tensor:  # fmt: skip
        """Discriminator cross-entropy on detached embeddings plus the encoders' adversarial
        term: ``confusion`` pushes a frozen copy of the discriminator's prediction toward
        uniform (bounded, stable); ``reversal`` backpropagates the reversed cross-entropy."""
        feats, labels = [], []
        for i, (z, mk) in enumerate(zip(zs, masks, strict=True)):
            keep = items[mk[items]]
            feats.append(z[keep])
            labels.append(torch.full((len(keep),), i, dtype=torch.long, device=z.device))
        # the discriminator judges directions only, so encoders cannot win (or blow up the
        # game) by rescaling embeddings
        x, y = F.normalize(torch.cat(feats), dim=1), torch.cat(labels)
        if len(y) == 0:
            return x.sum() * 0.0
        # class-balanced, so missing-modality imbalance does not reward a constant guess
        counts = torch.bincount(y, minlength=len(zs)).float().clamp_min(1.0)
        weight = counts.sum() / counts / len(zs)
        lam = self.params.grl_lambda
        if self.params.adversary == "reversal":
            return F.cross_entropy(self.discriminator(grad_reverse(x, lam)), y, weight=weight)
        d_loss = F.cross_entropy(self.discriminator(x.detach()), y, weight=weight)
        if lam == 0:
            return d_loss
        frozen = {k: v.detach() for k, v in self.discriminator.named_parameters()}
        logp = F.log_softmax(torch.func.functional_call(self.discriminator, frozen, (x,)), dim=1)
        confusion = -(logp.mean(dim=1) * weight[y]).sum() / weight[y].sum()
        return d_loss + lam * confusion

    def generator_loss(self, zs: list[torch.Tensor], masks: list[torch.Tensor],
                       items: torch.Tensor) -> torch.Tensor:  # fmt: skip
        """Reconstruction + adversarial loss on items where the target and another modality
        are present. Inputs and targets are detached: the generator learns to complete the
        shared space, it does not get to reshape it (which would invite collapse)."""
        if self.generators is None:
            return zs[0].sum() * 0.0
        det = [z.detach() for z in zs]
        terms = []
        for i, name in enumerate(self.names):
            inp, has_other = self._others_mean(det, masks, i)
            keep = items[(masks[i] & has_other)[items]]
            if len(keep) == 0:
                continue
            fake = self.generators[name](inp[keep])
            real = det[i][keep]
            # scale-free: relative squared error + cosine, so growing embedding norms (BPR
            # pushes them up) do not inflate this loss
            rel = (fake - real).pow(2).sum(1) / real.pow(2).sum(1).clamp_min(1e-8)
            recon = rel.mean() + (1 - F.cosine_similarity(fake, real)).mean()
            critic = self.critics[name]
            real_logit = critic(real)
            fake_logit = critic(fake.detach())
            c_loss = F.binary_cross_entropy_with_logits(
                real_logit, torch.ones_like(real_logit)
            ) + F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit))
            # non-saturating generator loss against a frozen copy of the critic
            frozen = {k: v.detach() for k, v in critic.named_parameters()}
            g_logit = torch.func.functional_call(critic, frozen, (fake,))
            g_loss = F.binary_cross_entropy_with_logits(g_logit, torch.ones_like(g_logit))
            adv = c_loss + g_loss
            terms.append(recon + self.params.gen_adv_weight * adv)
        return torch.stack(terms).mean() if terms else zs[0].sum() * 0.0

    def calculate_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        zs, masks = self.shared()
        use_gen = self.params.complete_missing and self.generators is not None
        cz, cm = self.completed_from(zs, masks) if use_gen else (zs, masks)
        ego_items = self._items_ego(cz, cm)
        users, items = self._propagate(ego_items)
        u = users[batch["users"]]
        pos, neg = pos_neg_scores(u, items[batch["pos_items"]], items[batch["neg_items"]])
        reg = l2_reg(self.user_emb(batch["users"]), ego_items[batch["pos_items"]],
                     ego_items[batch["neg_items"]])  # fmt: skip
        loss = bpr_loss(pos, neg) + self.params.reg_weight * reg
        aux = self._aux_items(batch)
        if self.params.adv_weight > 0 and len(zs) > 1:
            loss = loss + self.params.adv_weight * self.discriminator_loss(zs, masks, aux)
        if self.params.gen_weight > 0:
            loss = loss + self.params.gen_weight * self.generator_loss(zs, masks, aux)
        if self.params.align_weight > 0 and len(zs) > 1:
            loss = loss + self.params.align_weight * self.alignment_loss(zs, masks, aux)
        return loss

    def alignment_loss(self, zs: list[torch.Tensor], masks: list[torch.Tensor],
                       items: torch.Tensor) -> torch.Tensor:  # fmt: skip
        """Mean InfoNCE over modality pairs, on items where both are present."""
        terms = []
        for a in range(len(zs)):
            for b in range(a + 1, len(zs)):
                both = items[(masks[a] & masks[b])[items]]
                terms.append(info_nce(zs[a][both], zs[b][both], self.params.temperature))
        return torch.stack(terms).mean()

    # -- diagnostics ----------------------------------------------------------------------
    @torch.no_grad()
    def discriminator_accuracy(self) -> float:
        """Class-balanced accuracy of the modality discriminator over all present embeddings
        (chance = 1 / number of modalities): high means the modalities are still separable."""
        zs, masks = self.shared()
        recalls = []
        for i, (z, mk) in enumerate(zip(zs, masks, strict=True)):
            if bool(mk.any()):
                pred = self.discriminator(F.normalize(z[mk], dim=1)).argmax(dim=1)
                recalls.append(float((pred == i).float().mean()))
        return float(np.mean(recalls)) if recalls else float("nan")


def probe_modality_accuracy(model: AdvFusion, steps: int = 300, seed: int = 0) -> float:
    """Balanced held-out accuracy of a *fresh* linear probe trained to tell the modalities
    apart from the model's (normalised, frozen) shared embeddings. Unlike
    ``discriminator_accuracy`` it cannot be fooled by chasing one particular discriminator:
    near chance means the shared space really is modality-invariant."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        zs, masks = model.shared()
        xs = [F.normalize(z[mk], dim=1) for z, mk in zip(zs, masks, strict=True)]
    x = torch.cat(xs)
    y = torch.cat([torch.full((len(v),), i, dtype=torch.long) for i, v in enumerate(xs)])
    perm = torch.randperm(len(y), generator=gen)
    cut = len(y) * 2 // 3
    tr, te = perm[:cut], perm[cut:]
    with torch.random.fork_rng(devices=[]):  # the seed decides the probe's start too
        torch.manual_seed(seed)
        probe = nn.Linear(x.shape[1], len(xs))
    opt = torch.optim.Adam(probe.parameters(), lr=0.05)
    counts = torch.bincount(y[tr], minlength=len(xs)).float().clamp_min(1.0)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(probe(x[tr]), y[tr], weight=counts.sum() / counts).backward()
        opt.step()
    with torch.no_grad():
        pred = probe(x[te]).argmax(1)
    recalls = [float((pred[y[te] == i] == i).float().mean()) for i in range(len(xs))
               if bool((y[te] == i).any())]  # fmt: skip
    return float(np.mean(recalls))


def hide_modality(features: ItemFeatures, items: np.ndarray, modality: str) -> ItemFeatures:
    """A copy of ``features`` where ``modality`` is marked missing for ``items``."""
    mods = {}
    for mod in features:
        if mod.name == modality:
            mask = mod.mask.copy()
            mask[items] = False
            mods[mod.name] = ModalityFeatures(mod.name, mod.matrix.copy(), mask, mod.encoder_id)
        else:
            mods[mod.name] = mod
    return ItemFeatures(features.n_items, mods)


@dataclass
class CompletionReport:
    """Fill-in quality on held-out items, in the model's shared space.

    ``cosine_*``: mean cosine(estimate, true embedding). ``rank_*``: mean rank of an item's
    true embedding among all held-out true embeddings when retrieved with its estimate
    (1 = best; a constant estimate such as the mean averages (n + 1) / 2).
    """

    n_items: int
    cosine_generated: float
    cosine_mean: float
    rank_generated: float
    rank_mean: float
    hit10_generated: float
    hit10_mean: float


def _retrieval_ranks(query: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Rank (1-based, ties counted pessimistically half) of truth[i] for query[i]."""
    sims = F.normalize(query, dim=1) @ F.normalize(truth, dim=1).T
    own = sims.diagonal().unsqueeze(1)
    better = (sims > own).sum(1).float()
    ties = (sims == own).sum(1).float() - 1
    return 1 + better + ties / 2


@torch.no_grad()
def completion_quality(
    model: AdvFusion, true_features: ItemFeatures, items: np.ndarray, modality: str
) -> CompletionReport:
    """Compare generated vs true shared embeddings of ``modality`` for held-out ``items``.

    ``model`` must have been trained with that modality hidden for ``items`` (see
    ``hide_modality``); their true raw features come from ``true_features`` and are passed
    through the trained encoder only now. The baseline estimate is the mean shared embedding
    of the items where the modality was visible during training.
    """
    model.eval()
    idx = model.names.index(modality)
    items_t = torch.as_tensor(np.asarray(items), dtype=torch.long)
    raw_true = torch.from_numpy(true_features[modality].matrix[items])
    truth = model.encoders.encode(modality, raw_true)
    zs, masks = model.shared()
    generated = model.generate(zs, masks)[idx][items_t]
    mean_vec = zs[idx][masks[idx]].mean(dim=0, keepdim=True).expand_as(truth)
    cos_g = F.cosine_similarity(generated, truth).mean()
    cos_m = F.cosine_similarity(mean_vec, truth).mean()
    r_g = _retrieval_ranks(generated, truth)
    r_m = _retrieval_ranks(mean_vec, truth)
    return CompletionReport(
        n_items=len(items),
        cosine_generated=float(cos_g),
        cosine_mean=float(cos_m),
        rank_generated=float(r_g.mean()),
        rank_mean=float(r_m.mean()),
        hit10_generated=float((r_g <= 10).float().mean()),
        hit10_mean=float((r_m <= 10).float().mean()),
    )
