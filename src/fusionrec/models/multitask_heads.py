"""Reusable pieces of multi-task fusion: auxiliary task heads, InfoNCE alignment and the
rules that combine several task losses into one.

Kept apart from any model so other recommenders can bolt an auxiliary task onto their item
representation (e.g. genre prediction on top of a graph model) without copying code.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

TaskKind = Literal["multilabel", "multiclass", "regression"]


def infer_task_kind(labels: np.ndarray) -> TaskKind:
    """2-D arrays are multi-hot (multi-label), 1-D integers are classes, 1-D floats are
    regression targets. NaN / negative class ids mark items without a label."""
    if labels.ndim == 2:
        return "multilabel"
    if labels.ndim == 1 and np.issubdtype(labels.dtype, np.integer):
        return "multiclass"
    if labels.ndim == 1:
        return "regression"
    raise ValueError(f"item labels must be 1-D or 2-D, got shape {labels.shape}")


class TaskHead(nn.Module):
    """A small MLP from the shared item representation to one auxiliary target.

    Holds the targets as buffers (aligned with item indices) plus a per-item validity mask,
    so ``loss(item_repr, items)`` needs only the batch's item indices.
    """

    def __init__(self, dim: int, labels: np.ndarray, kind: TaskKind | None = None,
                 hidden: int | None = None) -> None:  # fmt: skip
        super().__init__()
        self.kind: TaskKind = kind or infer_task_kind(labels)
        if self.kind == "multilabel":
            target = torch.as_tensor(np.nan_to_num(labels.astype(np.float32)))
            valid = torch.as_tensor(~np.isnan(labels.astype(np.float32)).any(axis=1))
            n_out = labels.shape[1]
        elif self.kind == "multiclass":
            target = torch.as_tensor(labels.astype(np.int64))
            valid = target >= 0
            n_out = int(labels.max()) + 1
        else:
            lab = labels.astype(np.float32)
            valid = torch.as_tensor(~np.isnan(lab))
            target = torch.as_tensor(np.nan_to_num(lab))
            # standardise so the regression loss lives on the same scale as the others
            mu, sd = float(target[valid].mean()), float(target[valid].std().clamp_min(1e-6))
            target = (target - mu) / sd
            n_out = 1
        self.register_buffer("target", target, persistent=False)
        self.register_buffer("valid", valid, persistent=False)
        self.net = (
            nn.Sequential(nn.Linear(dim, hidden), nn.LeakyReLU(), nn.Linear(hidden, n_out))
            if hidden
            else nn.Linear(dim, n_out)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def loss(self, item_repr: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Mean loss over the ``items`` that have a label (0 if none has)."""
        keep = self.valid[items]
        if not bool(keep.any()):
            return item_repr.sum() * 0.0
        out = self.net(item_repr[items[keep]])
        y = self.target[items[keep]]
        if self.kind == "multilabel":
            return F.binary_cross_entropy_with_logits(out, y)
        if self.kind == "multiclass":
            return F.cross_entropy(out, y)
        return F.mse_loss(out.squeeze(-1), y)


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """Symmetric InfoNCE: row i of ``a`` should match row i of ``b`` against all other rows
    of the batch (in-batch negatives).

    The temperature scales ``a`` before the product, n x d divisions rather than n x n (the
    multi-task models align a few thousand items' modalities a step)."""
    if a.shape[0] == 0:
        return a.sum() * 0.0
    a = F.normalize(a, dim=-1) / temperature
    b = F.normalize(b, dim=-1)
    logits = a @ b.T
    target = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def one_way_info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """InfoNCE in one direction (a -> b): row i of ``a`` against every row of ``b``.

    The temperature scales ``a`` before the product: n x d divisions, not n x n."""
    a = F.normalize(a, dim=-1) / temperature
    b = F.normalize(b, dim=-1)
    return F.cross_entropy(a @ b.T, torch.arange(a.shape[0], device=a.device))


def batch_info_nce(
    a: torch.Tensor, b: torch.Tensor, idx: torch.Tensor, temperature: float = 0.2
) -> torch.Tensor:
    """One-way InfoNCE of rows ``idx`` of ``a`` against the same rows of ``b``, with the
    batch's *distinct* rows as negatives (MGCN/SMORE's view alignment).

    A row repeated in the batch (a popular item, an active user) is never its own negative,
    yet every occurrence still counts as an anchor, so the loss is the mean over the batch.
    Occurrences of one row have identical terms, so each distinct row is computed once and
    weighted by its count: a distinct x distinct logit matrix instead of batch x batch
    (on movielens-100k about 5x fewer operations; see docs/performance.md)."""
    rows, counts = torch.unique(idx, return_counts=True)
    per_row = F.cross_entropy(
        (F.normalize(a[rows], dim=-1) / temperature) @ F.normalize(b[rows], dim=-1).T,
        torch.arange(rows.numel(), device=a.device),
        reduction="none",
    )
    return (per_row * counts).sum() / idx.numel()


class FixedWeighting(nn.Module):
    """sum_i w_i L_i with hand-set weights (no parameters)."""

    def __init__(self, weights: list[float]) -> None:
        super().__init__()
        self.register_buffer("w", torch.tensor(weights, dtype=torch.float32), persistent=False)

    def forward(self, losses: torch.Tensor) -> torch.Tensor:
        return (self.w * losses).sum()

    def weights(self) -> torch.Tensor:
        return self.w.detach().clone()


class UncertaintyWeighting(nn.Module):
    """Learned homoscedastic-uncertainty weights (Kendall, Gal & Cipolla, CVPR 2018).

    L = sum_i exp(-s_i) L_i + s_i with s_i = log sigma_i^2 learned. The optimum for a fixed
    L_i is s_i = log L_i, so a task whose loss stays high (noisy, hard to fit) is down-weighted
    automatically instead of dominating the shared representation.
    """

    def __init__(self, n_tasks: int, init: float = 0.0) -> None:
        super().__init__()
        self.log_vars = nn.Parameter(torch.full((n_tasks,), float(init)))

    def forward(self, losses: torch.Tensor) -> torch.Tensor:
        return (torch.exp(-self.log_vars) * losses + self.log_vars).sum()

    def weights(self) -> torch.Tensor:
        """The current effective weights exp(-s_i)."""
        return torch.exp(-self.log_vars.detach())


def make_weighting(kind: str, weights: list[float]) -> nn.Module:
    if kind == "fixed":
        return FixedWeighting(weights)
    if kind == "uncertainty":
        return UncertaintyWeighting(len(weights))
    raise ValueError(f"unknown loss weighting '{kind}'; choose 'fixed' or 'uncertainty'")
