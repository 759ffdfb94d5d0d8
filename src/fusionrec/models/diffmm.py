"""DiffMM: modality-aware graph diffusion plus cross-modal contrastive learning.

Jiang, Xia, Wei, Luo, Lin, Huang, "DiffMM: Multi-Modal Diffusion Model for Recommendation",
ACM MM 2024 (arXiv 2406.11781). Interactions are sparse; DiffMM *generates* one extra
user-item graph per modality with a diffusion model over users' interaction rows, steered by
that modality's item features, and uses those graphs for a multimodal graph encoder and for
cross-modal contrastive views.

**1. Forward noising.** A user's training row x_0 in {0, 1}^|I| is noised in T steps,
q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I), which has the closed form

    q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I),   abar_t = prod_{s<=t} (1 - beta_s).

The schedule is linear in the noise variance: v_t = linspace(s*n_min, s*n_max, T) with
s = ``noise_scale``, beta_1 = v_1 and beta_t = 1 - (1 - v_t) / (1 - v_{t-1}); the authors then
fix beta_1 = 1e-4, and so do we. Noise is kept tiny (s = 0.1): the rows must stay readable.

**2. Denoiser and reverse step.** Per modality m an MLP x_hat_0^m = f_m(x_t, emb(t))
(sinusoidal step embedding; tanh layers; input dropout) predicts x_0, and the reverse step
is the Gaussian posterior with x_0 replaced by the prediction:

    mu(x_t, t) = beta_t sqrt(abar_{t-1}) / (1 - abar_t) x_hat_0
               + (1 - abar_{t-1}) sqrt(1 - beta_t) / (1 - abar_t) x_t.

**3. ELBO loss.** With x_0 prediction the ELBO term of step t is a weighted MSE,

    L_elbo = E_t [ w_t ||x_hat_0(x_t, t) - x_0||^2 / |I| ],  w_t = SNR(t-1) - SNR(t), w_0 = 1,

where SNR(t) = abar_t / (1 - abar_t) (``reweight: false`` drops w_t).

**4. Modality-aware signal injection (MSI).** The generated row must agree with the user's
collaborative profile *in modality m's feature space*: with F_m the projected item features
of m and E the item id embeddings (both held fixed here),

    L_msi = || x_hat_0^m F_m - x_0 E ||^2 / d,

so items whose content resembles what the user consumed get high generated scores.
Per step: L_diff = sum_m L_elbo^m + ``msi_weight`` L_msi^m.

**5. Generated graphs.** After the denoisers' pass of an epoch every user row is denoised
(start at x_0, or at x_s with noise when ``sampling_steps`` = s > 0; then T reverse steps)
and its top ``rebuild_k`` items become that user's edges in G_m (binary, with self-loops,
D^-1/2 (A + I) D^-1/2). During training a ``keep_rate`` share of G_m's entries is kept
(scaled by 1/keep_rate), drawn afresh each epoch.

**6. Multimodal graph aggregation.** With A the normalised training graph, U/I the id
tables and f_m = normalize(F_m):

    H_m = A [U; f_m] + A [(A [U; f_m])_users; I] + lambda_adj G_m [U; I]
    H   = sum_m softmax(w)_m H_m
    Z   = sum_{l=0..L} A^l H + lambda_ris normalize(H)

Z gives the user and item vectors; score = z_u . z_i; loss = BPR + ``reg_weight``
(||U||^2 + ||I||^2).

**7. Cross-modal contrastive learning.** Modality views V_m = sum_{l=0..L} A^l G_m [U; f_m];
with InfoNCE(a, b; n) = -log exp(a_n.b_n / tau) / sum_j exp(a_n.b_j / tau) (cosine, all
users or all items as negatives) over the batch's users and positive items,

    L_cl = sum_{m < m'} InfoNCE(V_m, V_m')     (``cl_views: modality``, paper default)
    L_cl = sum_m InfoNCE(Z, V_m)               (``cl_views: main``, authors' TikTok run)

and the objective is BPR + ``cl_weight`` L_cl + reg.

**Differences from the paper / authors' code, and why.**

- The diffusion pass runs in ``on_epoch_start`` with its own Adam (``diffusion_lr``), as the
  authors alternate it with recommendation training; the denoisers are frozen otherwise, so
  the trainer's optimiser never sees them. Its moments travel in checkpoints
  (``training_state``), so a resumed run trains the same weights as an uninterrupted one.
- The generated graphs are kept as a persistent [users, rebuild_k] index buffer, so a saved
  run reloads to identical scores; scoring uses the full generated graphs, training the
  edge-dropped ones (the authors score with the dropped graph of the last epoch).
- Missing modalities: an item without modality m has f_m = 0, so it adds nothing to its
  users' modality-m content view or to the MSI target; it stays in the interaction rows and
  may be generated into G_m (masked, not dropped).
- With a single modality there are no modality pairs, so ``cl_views: modality`` contrasts the
  main view with the modality view instead of silently dropping the contrastive loss.
- ``diffusion_batch`` defaults to 256 users, not the authors' 1024: their datasets have
  9k-35k users, so 1024 gives 9-35 denoiser steps an epoch; on catalogues with under a
  thousand users it would give one, and the generated graphs would stay near random.
- Feature projection: ``leaky_relu`` = LeakyReLU(0.2) of a linear map (authors' ``trans=0``,
  with a bias here); ``linear`` = the linear map alone (``trans=1``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import numpy as np
import pydantic
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from fusionrec.models.base import (
    ForwardRecommender,
    Params,
    TrainData,
    bpr_loss,
    id_embeddings,
    pos_neg_scores,
    register,
)
from fusionrec.models.fusion import ModalityProjector
from fusionrec.models.graph import (
    SparseGraph,
    bipartite_adjacency,
    normalized_bipartite,
    symmetric_normalize,
)
from fusionrec.models.lightgcn import propagate


class DiffMMParams(Params):
    """Defaults: the authors' ``Params.py`` (HKUDS/DiffMM); per-dataset runs noted."""

    embedding_size: int = pydantic.Field(64, ge=1)  # latdim
    n_layers: int = pydantic.Field(1, ge=0)  # gnn_layer
    #: squared norm of the id tables (TikTok 1e-4, Baby 1e-5, Sports 1e-6)
    reg_weight: float = pydantic.Field(1e-5, ge=0)
    #: contrastive weight, ssl_reg (Baby 1e-1)
    cl_weight: float = pydantic.Field(1e-2, ge=0)
    temperature: float = pydantic.Field(0.5, gt=0)  # temp (Sports 0.1)
    #: modality vs modality (cl_method 0) or main vs modality (cl_method 1, TikTok)
    cl_views: Literal["modality", "main"] = "modality"
    #: share of generated-graph entries kept while training (Baby/Sports 1.0)
    keep_rate: float = pydantic.Field(0.5, gt=0, le=1)
    projection: Literal["leaky_relu", "linear"] = "leaky_relu"  # trans 0 / 1
    ris_lambda: float = 0.5  # weight of normalize(H) added to Z (Sports 0.1)
    ris_adj_lambda: float = 0.2  # weight of the generated-graph term in H_m
    steps: int = pydantic.Field(5, ge=1)  # diffusion steps T
    noise_scale: float = pydantic.Field(0.1, gt=0)
    noise_min: float = pydantic.Field(1e-4, gt=0)
    noise_max: float = pydantic.Field(0.02, gt=0, lt=1)
    #: 0: denoise from x_0 itself; s > 0: from x_s drawn from q(x_s | x_0)
    sampling_steps: int = pydantic.Field(0, ge=0)
    sampling_noise: bool = False  # add posterior noise in the reverse steps
    denoiser_dims: list[int] = pydantic.Field(default_factory=lambda: [1000])  # dims
    time_emb_size: int = pydantic.Field(10, ge=2)  # d_emb_size
    denoiser_dropout: float = pydantic.Field(0.5, ge=0, lt=1)  # Denoise(dropout=0.5)
    reweight: bool = True  # ELBO weights SNR(t-1) - SNR(t)
    msi_weight: float = pydantic.Field(0.1, ge=0)  # e_loss (Baby 0.01, Sports 0.5)
    rebuild_k: int = pydantic.Field(5, ge=1)  # generated edges per user and modality
    diffusion_lr: float = pydantic.Field(1e-3, gt=0)  # authors: the model's lr
    #: users per denoiser step; the authors use 1024 on 9k-35k users (9-35 steps an epoch),
    #: which is one step an epoch on the movielens sets, so 256 here (4 steps on ml-100k)
    diffusion_batch: int = pydantic.Field(256, ge=1)

    @pydantic.model_validator(mode="after")
    def _check(self) -> DiffMMParams:
        if self.noise_min >= self.noise_max:
            raise ValueError("noise_min must be below noise_max")
        if self.sampling_steps > self.steps:
            raise ValueError("sampling_steps must not exceed steps")
        return self


class GaussianDiffusion(nn.Module):
    """The noise schedule and its closed forms (forward q, posterior mean, ELBO weights)."""

    def __init__(self, steps: int, noise_scale: float, noise_min: float, noise_max: float):
        super().__init__()
        var = np.linspace(noise_scale * noise_min, noise_scale * noise_max, steps)
        betas = np.empty(steps)
        betas[0] = 1e-4  # the authors fix beta_1 (their beta_fixed)
        betas[1:] = np.minimum(1 - (1 - var[1:]) / (1 - var[:-1]), 0.999)
        abar = np.cumprod(1 - betas)
        prev = np.concatenate([[1.0], abar[:-1]])
        tables = {
            "betas": betas,
            "abar": abar,
            "coef_x0": betas * np.sqrt(prev) / (1 - abar),
            "coef_xt": (1 - prev) * np.sqrt(1 - betas) / (1 - abar),
            "post_var": betas * (1 - prev) / (1 - abar),
            "snr": abar / (1 - abar),
        }
        for key, value in tables.items():
            self.register_buffer(key, torch.tensor(value, dtype=torch.float32), persistent=False)
        self.steps = steps

    @staticmethod
    def _at(table: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return table[t].unsqueeze(1)

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps."""
        abar = self._at(self.abar, t)
        return abar.sqrt() * x0 + (1 - abar).sqrt() * noise

    def elbo_weight(self, t: torch.Tensor) -> torch.Tensor:
        prev = self.snr[(t - 1).clamp_min(0)]
        return torch.where(t == 0, torch.ones_like(prev), prev - self.snr[t])

    def p_sample(
        self, denoiser: Denoiser, x0: torch.Tensor, start: int, noisy: bool
    ) -> torch.Tensor:
        """Reverse process from x_0 (``start`` = 0) or from a draw of x_start, T steps."""
        x = x0
        if start > 0:
            t = torch.full((len(x0),), start - 1, dtype=torch.long, device=x0.device)
            x = self.q_sample(x0, t, torch.randn_like(x0))
        for step in reversed(range(self.steps)):
            t = torch.full((len(x),), step, dtype=torch.long, device=x.device)
            x0_hat = denoiser(x, t, dropout=False)
            x = self._at(self.coef_x0, t) * x0_hat + self._at(self.coef_xt, t) * x
            if noisy and step > 0:
                x = x + self._at(self.post_var, t).sqrt() * torch.randn_like(x)
        return x


class Denoiser(nn.Module):
    """x_hat_0 = MLP([dropout(x_t), W emb(t)]): n_items -> dims (mirrored) -> n_items, tanh."""

    def __init__(self, n_items: int, dims: list[int], emb_size: int, dropout: float) -> None:
        super().__init__()
        self.emb_size = emb_size
        self.time = nn.Linear(emb_size, emb_size)
        widths = [n_items + emb_size, *reversed(dims), *dims[1:], n_items]
        self.layers = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:], strict=False)
        )
        self.drop = nn.Dropout(dropout)
        for layer in [self.time, *self.layers]:  # as the authors: Xavier-normal, tiny biases
            nn.init.xavier_normal_(layer.weight)
            nn.init.normal_(layer.bias, 0.0, 1e-3)

    def step_embedding(self, t: torch.Tensor) -> torch.Tensor:
        half = self.emb_size // 2
        freqs = torch.exp(-math.log(10000) * torch.arange(half, device=t.device) / half)
        angles = t.float().unsqueeze(1) * freqs
        emb = torch.cat([angles.cos(), angles.sin()], dim=1)
        return F.pad(emb, (0, self.emb_size - 2 * half))

    def forward(self, x: torch.Tensor, t: torch.Tensor, dropout: bool = True) -> torch.Tensor:
        if dropout:
            x = self.drop(x)
        h = torch.cat([x, self.time(self.step_embedding(t))], dim=1)
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i < len(self.layers) - 1:
                h = torch.tanh(h)
        return h


def drop_entries(adj: sp.csr_matrix, keep: float) -> SparseGraph:
    """A graph with a random ``keep`` share of the entries of ``adj``, scaled by 1/keep."""
    if keep >= 1:
        return SparseGraph(adj)
    adj = sp.csr_matrix(adj)
    adj.sum_duplicates()  # sorted, duplicate-free: entries in row-major order
    coo = adj.tocoo()
    kept = (torch.rand(coo.nnz) < keep).numpy()
    dropped = sp.csr_matrix(
        (coo.data[kept] / keep, (coo.row[kept], coo.col[kept])), shape=adj.shape
    )
    return SparseGraph(dropped)


def contrast(a: torch.Tensor, b: torch.Tensor, idx: torch.Tensor, tau: float) -> torch.Tensor:
    """InfoNCE of rows ``idx`` of a against the same rows of b, every row of b a negative.

    The temperature divides the d-wide rows of a, not the [len(idx), len(b)] logits: the same
    numbers, without a pass (and its backward) over a matrix as wide as the catalogue. A row
    that recurs in ``idx`` (a popular item, an active user) has the same term each time, so
    each distinct row is computed once and weighted by its count: a third fewer item logits
    in a 2048 batch on movielens-latest-small-mm, three fifths fewer on movielens-100k."""
    rows, counts = torch.unique(idx, return_counts=True)
    a, b = F.normalize(a[rows], dim=1) / tau, F.normalize(b, dim=1)
    per_row = F.cross_entropy(a @ b.T, rows, reduction="none")
    return (per_row * counts).sum() / idx.numel()


@contextmanager
def trainable(module: nn.Module) -> Iterator[None]:
    """Let ``module`` take gradients only inside the block (it is frozen for the trainer)."""
    module.requires_grad_(True)
    try:
        yield
    finally:
        module.requires_grad_(False)


@register
class DiffMM(ForwardRecommender):
    name = "diffmm"
    ParamsSchema = DiffMMParams
    requires_features = True

    def __init__(self, data: TrainData, params: DiffMMParams) -> None:
        super().__init__(data, params)
        d = params.embedding_size
        self.names = data.features.names
        self.user_emb, self.item_emb = id_embeddings(data.n_users, data.n_items, d)
        self.projector = ModalityProjector(data.features, d)
        self.modal_weight = nn.Parameter(torch.full((len(self.names),), 1.0 / len(self.names)))
        self.adj = normalized_bipartite(data.train_matrix)
        self.rows = sp.csr_matrix(data.train_matrix, dtype=np.float32)
        self.diffusion = GaussianDiffusion(
            params.steps, params.noise_scale, params.noise_min, params.noise_max
        )
        self.denoisers = nn.ModuleDict(
            {
                n: Denoiser(
                    data.n_items,
                    params.denoiser_dims,
                    params.time_emb_size,
                    params.denoiser_dropout,
                )
                for n in self.names
            }
        )
        self.denoisers.requires_grad_(False)
        self.k = min(params.rebuild_k, data.n_items)
        for n in self.names:  # generated items per user; -1 until first generated
            self.register_buffer(f"gen_{n}", torch.full((data.n_users, self.k), -1))
        self.diffusion_opt: torch.optim.Optimizer | None = None
        self.train_graphs: dict[str, SparseGraph] | None = None

    # -- modality features ----------------------------------------------------------------
    def modality_features(self) -> list[torch.Tensor]:
        """F_m per modality: projected item features, zero rows where the modality is missing."""
        feats, masks = self.projector()
        if self.params.projection == "leaky_relu":
            feats = [F.leaky_relu(f, 0.2) for f in feats]
        return [f * m.unsqueeze(1) for f, m in zip(feats, masks, strict=True)]

    # -- diffusion ------------------------------------------------------------------------
    def _user_rows(self, users: np.ndarray) -> torch.Tensor:
        """Dense training rows of a batch of users (the only dense [users, items] block)."""
        return torch.from_numpy(self.rows[users].toarray()).to(self.adj.device)

    def _user_batches(self, order: np.ndarray) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
        for start in range(0, len(order), self.params.diffusion_batch):
            users = order[start : start + self.params.diffusion_batch]
            yield users, self._user_rows(users)

    def diffusion_loss(self, x0: torch.Tensor, feats: list[torch.Tensor]) -> torch.Tensor:
        """sum_m L_elbo^m + msi_weight L_msi^m on a batch of rows (paper eqs. 3-4)."""
        p, diff = self.params, self.diffusion
        items = self.item_emb.weight.detach()
        id_profile = x0 @ items
        total = x0.new_zeros(())
        for name, f in zip(self.names, feats, strict=True):
            t = torch.randint(0, diff.steps, (len(x0),), device=x0.device)
            x0_hat = self.denoisers[name](diff.q_sample(x0, t, torch.randn_like(x0)), t)
            mse = (x0_hat - x0).pow(2).mean(dim=1)
            elbo = diff.elbo_weight(t) * mse if p.reweight else mse
            msi = (x0_hat @ f - id_profile).pow(2).mean(dim=1)
            total = total + elbo.mean() + p.msi_weight * msi.mean()
        return total

    def _denoiser_optimizer(self) -> torch.optim.Optimizer:
        if self.diffusion_opt is None:
            self.diffusion_opt = torch.optim.Adam(
                self.denoisers.parameters(), lr=self.params.diffusion_lr
            )
        return self.diffusion_opt

    def training_state(self) -> dict[str, Any]:
        """The denoisers' own Adam moments: a resumed run without them restarts Adam's
        bias correction and takes larger steps than an uninterrupted one."""
        return {"diffusion_opt": self.diffusion_opt.state_dict()} if self.diffusion_opt else {}

    def load_training_state(self, state: dict[str, Any]) -> None:
        if "diffusion_opt" in state:
            self._denoiser_optimizer().load_state_dict(state["diffusion_opt"])

    def train_diffusion(self) -> float:
        """One pass of the denoisers over every user's row; returns the mean loss."""
        self._denoiser_optimizer()
        with torch.no_grad():
            feats = self.modality_features()
        order = torch.randperm(self.n_users).numpy()
        losses = []
        with trainable(self.denoisers):
            for _, x0 in self._user_batches(order):
                self.diffusion_opt.zero_grad(set_to_none=True)
                loss = self.diffusion_loss(x0, feats)
                loss.backward()
                self.diffusion_opt.step()
                losses.append(float(loss.detach()))
        self.diffusion_opt.zero_grad(set_to_none=True)
        return float(np.mean(losses))

    @torch.no_grad()
    def generate(self) -> None:
        """Denoise every user's row per modality; keep the top ``rebuild_k`` items (eq. 5)."""
        p = self.params
        for users, x0 in self._user_batches(np.arange(self.n_users)):
            idx = torch.from_numpy(users).to(x0.device)
            for name in self.names:
                x = self.diffusion.p_sample(
                    self.denoisers[name], x0, p.sampling_steps, p.sampling_noise
                )
                getattr(self, f"gen_{name}")[idx] = x.topk(self.k, dim=1).indices
        self._cache = {}

    def generated_graph(self, name: str) -> SparseGraph:
        """G_m = D^-1/2 (A_gen + I) D^-1/2 over users + items, from the stored top-k items."""
        return SparseGraph(self.generated_matrix(name), symmetric=True).to(self.adj.device)

    def generated_matrix(self, name: str) -> sp.csr_matrix:
        gen = getattr(self, f"gen_{name}").cpu().numpy()
        rows = np.repeat(np.arange(self.n_users), self.k)
        ui = sp.csr_matrix(
            (np.ones(gen.size, dtype=np.float32), (rows, gen.ravel())),
            shape=(self.n_users, self.n_items),
        )
        adj = bipartite_adjacency(ui) + sp.eye(self.n_users + self.n_items, dtype=np.float32)
        return symmetric_normalize(adj)

    def _ensure_generated(self) -> None:
        if bool((getattr(self, f"gen_{self.names[0]}") < 0).any()):
            self.generate()

    def on_epoch_start(self, epoch: int) -> None:
        """The paper's alternation: a denoiser pass, new generated graphs, fresh edge drop."""
        self.train_diffusion()
        self.generate()
        keep = self.params.keep_rate
        self.train_graphs = {
            n: drop_entries(self.generated_matrix(n), keep).to(self.adj.device) for n in self.names
        }

    # -- encoder --------------------------------------------------------------------------
    def _layer_sum(self, x: torch.Tensor) -> torch.Tensor:
        """sum_{l=0..L} A^l x (the authors sum the layers, LightGCN averages them)."""
        return propagate(self.adj, x, self.params.n_layers) * (self.params.n_layers + 1)

    def encode(
        self, graphs: dict[str, SparseGraph], views: bool
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Z over users + items, and the contrastive modality views V_m when ``views``."""
        p, nu = self.params, self.n_users
        users, items = self.user_emb.weight, self.item_emb.weight
        ids = torch.cat([users, items])
        weight = torch.softmax(self.modal_weight, dim=0)
        fused, modal_views = 0.0, []
        for m, (name, f) in enumerate(zip(self.names, self.modality_features(), strict=True)):
            content = torch.cat([users, F.normalize(f, dim=1)])
            h = self.adj(content)
            h = h + self.adj(torch.cat([h[:nu], items]))
            h = h + p.ris_adj_lambda * graphs[name](ids)
            fused = fused + weight[m] * h
            if views:
                modal_views.append(self._layer_sum(graphs[name](content)))
        z = self._layer_sum(fused) + p.ris_lambda * F.normalize(fused, dim=1)
        return z, modal_views

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        def compute() -> tuple[torch.Tensor, torch.Tensor]:
            self._ensure_generated()
            z, _ = self.encode({n: self.generated_graph(n) for n in self.names}, views=False)
            return z[: self.n_users], z[self.n_users :]

        return self.cached("encoded", compute)

    # -- contract -------------------------------------------------------------------------
    def calculate_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.train_graphs is None:
            self.on_epoch_start(0)
        p, nu = self.params, self.n_users
        z, modal_views = self.encode(self.train_graphs, views=p.cl_weight > 0)
        users, pos, neg = batch["users"], batch["pos_items"], batch["neg_items"]
        pos_s, neg_s = pos_neg_scores(z[users], z[nu + pos], z[nu + neg])
        reg = self.user_emb.weight.pow(2).sum() + self.item_emb.weight.pow(2).sum()
        loss = bpr_loss(pos_s, neg_s) + p.reg_weight * reg
        if p.cl_weight > 0:
            loss = loss + p.cl_weight * self.contrastive_loss(z, modal_views, users, pos)
        return loss

    def contrastive_loss(
        self,
        z: torch.Tensor,
        modal_views: list[torch.Tensor],
        users: torch.Tensor,
        pos: torch.Tensor,
    ) -> torch.Tensor:
        """Sum of InfoNCE over the view pairs (eq. 7), users and positive items alike."""
        nu, tau = self.n_users, self.params.temperature
        if self.params.cl_views == "main" or len(modal_views) == 1:
            pairs = [(z, v) for v in modal_views]
        else:
            pairs = [(a, b) for i, a in enumerate(modal_views) for b in modal_views[i + 1 :]]
        total = z.new_zeros(())
        for a, b in pairs:
            total = total + contrast(a[:nu], b[:nu], users, tau)
            total = total + contrast(a[nu:], b[nu:], pos, tau)
        return total
