"""A small softmax classifier with a star-rating head, fitted full-batch, and its calibration.

With ``hidden=0`` it is multinomial logistic regression (plus a linear rating regression on
the same input); with ``hidden>0`` both heads share one ReLU layer. Training minimises
class-weighted cross-entropy (``balanced`` weights, n / (k * count), so the rare negative and
neutral reviews count as much as the common positive ones) + the rating's squared error +
L2 on the weights, with L-BFGS over the whole training set: the data are small (thousands of
rows), so this is fast, needs no learning-rate tuning and is deterministic for a seed.

Calibration is temperature scaling (Guo et al., 2017): one scalar T fitted by likelihood on
held-out rows divides the logits, which leaves every argmax unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn


@dataclass(frozen=True)
class ClassifierParams:
    hidden: int = 0
    weight_decay: float = 1e-3
    rating_weight: float = 0.5
    max_iter: int = 200

    def label(self) -> str:
        return f"hidden={self.hidden}, l2={self.weight_decay:g}"


def to_tensor(x: np.ndarray | sp.spmatrix) -> torch.Tensor:
    """Dense float32 tensor, or a sparse COO one for a scipy matrix (TF-IDF)."""
    if sp.issparse(x):
        coo = sp.coo_matrix(x)
        index = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
        values = torch.from_numpy(coo.data.astype(np.float32))
        return torch.sparse_coo_tensor(index, values, coo.shape, check_invariants=True).coalesce()
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def _matmul(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``x @ weight`` for a dense or sparse ``x`` (a sparse TF-IDF matrix is never densified)."""
    return torch.sparse.mm(x, weight) if x.is_sparse else x @ weight


class SentimentNet(nn.Module):
    """Input -> (optional ReLU layer) -> class logits and a star rating."""

    def __init__(self, dim: int, n_classes: int, hidden: int) -> None:
        super().__init__()
        width = hidden or dim
        self.first = nn.Parameter(torch.empty(dim, width)) if hidden else None
        self.first_bias = nn.Parameter(torch.zeros(width)) if hidden else None
        self.classes = nn.Linear(width, n_classes)
        self.rating = nn.Linear(width, 1)
        if self.first is not None:
            nn.init.kaiming_uniform_(self.first.T, a=5**0.5)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.first is not None:
            x = torch.relu(_matmul(x, self.first) + self.first_bias)
        logits = _matmul(x, self.classes.weight.T) + self.classes.bias
        return logits, (_matmul(x, self.rating.weight.T) + self.rating.bias).squeeze(1)

    def penalty(self) -> torch.Tensor:
        weights = [self.classes.weight, self.rating.weight]
        if self.first is not None:
            weights.append(self.first)
        return sum((w**2).sum() for w in weights)


def balanced_weights(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """n / (k * count) per class; a class absent from training gets weight 0."""
    counts = np.bincount(labels, minlength=n_classes).astype(float)
    present = counts > 0
    weights = np.zeros(n_classes)
    weights[present] = len(labels) / (present.sum() * counts[present])
    return weights


def fit_classifier(
    x: np.ndarray | sp.spmatrix,
    labels: np.ndarray,
    ratings: np.ndarray,
    n_classes: int,
    params: ClassifierParams,
    seed: int,
) -> SentimentNet:
    """Fit on all rows at once; rows with a NaN rating do not train the rating head."""
    torch.manual_seed(seed)
    inputs = to_tensor(x)
    net = SentimentNet(inputs.shape[1], n_classes, params.hidden)
    y = torch.from_numpy(labels.astype(np.int64))
    r = torch.from_numpy(np.nan_to_num(ratings, nan=0.0).astype(np.float32))
    has_rating = torch.from_numpy(~np.isnan(ratings))
    ce = nn.CrossEntropyLoss(
        weight=torch.from_numpy(balanced_weights(labels, n_classes).astype(np.float32))
    )
    optimizer = torch.optim.LBFGS(
        net.parameters(), max_iter=params.max_iter, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        logits, rating = net(inputs)
        loss = ce(logits, y) + params.weight_decay * net.penalty()
        if has_rating.any():
            err = (rating - r)[has_rating]
            loss = loss + params.rating_weight * (err**2).mean()
        loss.backward()
        return loss

    net.train()
    with one_thread():
        optimizer.step(closure)
    return net.eval()


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread: these problems are too small to gain from more, and on a busy
    machine extra threads waiting on each other made a fit ten times slower (measured)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@torch.no_grad()
def forward_numpy(net: SentimentNet, x: np.ndarray | sp.spmatrix) -> tuple[np.ndarray, np.ndarray]:
    """(logits, star rating clipped to 1..5) as numpy arrays."""
    logits, rating = net(to_tensor(x))
    return logits.numpy(), rating.clamp(1.0, 5.0).numpy()


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T > 0 minimising the held-out negative log-likelihood of softmax(logits / T)."""
    z = torch.from_numpy(logits.astype(np.float32))
    y = torch.from_numpy(labels.astype(np.int64))
    log_t = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], max_iter=100, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(z / log_t.exp(), y)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(np.clip(log_t.exp().item(), 1e-2, 1e2))


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
