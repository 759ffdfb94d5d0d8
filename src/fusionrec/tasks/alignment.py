"""Contrastive alignment of frozen item views (text, image, a recommender's embedding).

Each view gets a small head (linear, or a one-hidden-layer MLP) over its standardised,
frozen features; the heads are trained so that an item's views land close together and
far from other items' views, with the symmetric InfoNCE loss of CLIP and a learned
temperature (the logit scale, clamped so it cannot run away). Only items that have at
least two views take part; items missing a view are skipped for the pairs they cannot
form, and counted. A seeded held-out slice of the pairs decides when to stop.

A view may be *frozen* (its features are used as they are, already in the shared space):
CLIP's own towers are such views, and then only the remaining views train.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from fusionrec.errors import ModelError

log = logging.getLogger("fusionrec.tasks")

#: Fewer aligned pairs than this cannot train and hold out a validation slice.
MIN_PAIRS = 8


class AlignConfig(BaseModel):
    """Heads and training settings.

    The head defaults are the settings most often chosen on validation movies by
    ``benchmarks/bench_search.py`` (dim 256 on every seed; hidden 512, dropout 0.5 and
    temperature 0.07 on two of three); the rest are not tuned.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    dim: int = Field(256, ge=2)
    #: 0 = a linear head; otherwise the width of one GELU hidden layer.
    hidden: int = Field(512, ge=0)
    dropout: float = Field(0.5, ge=0.0, lt=1.0)
    epochs: int = Field(200, ge=1)
    batch_size: int = Field(256, ge=2)
    lr: float = Field(1e-3, gt=0.0)
    weight_decay: float = Field(0.01, ge=0.0)
    #: Initial softmax temperature; the model learns it (as log of the logit scale).
    temperature: float = Field(0.07, gt=0.0)
    #: Upper clamp of the logit scale (1 / temperature), as in CLIP.
    max_logit_scale: float = Field(100.0, gt=1.0)
    valid_fraction: float = Field(0.1, gt=0.0, lt=1.0)
    patience: int = Field(10, ge=1)
    seed: int = 0


class ViewHead(nn.Module):
    """Standardise with training statistics, project, L2-normalise (or pass a frozen view)."""

    def __init__(self, mean: np.ndarray, std: np.ndarray, config: AlignConfig | None) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))
        self.frozen = config is None
        if config is None:
            self.net: nn.Module = nn.Identity()
        elif config.hidden:
            self.net = nn.Sequential(
                nn.Dropout(config.dropout),
                nn.Linear(len(mean), config.hidden),
                nn.GELU(),
                nn.Linear(config.hidden, config.dim),
            )
        else:
            self.net = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(len(mean), config.dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.net((x - self.mean) / self.std), dim=1)


class Aligner(nn.Module):
    """One head per view and the shared learned logit scale."""

    def __init__(self, heads: dict[str, ViewHead], temperature: float, max_scale: float) -> None:
        super().__init__()
        self.heads = nn.ModuleDict(heads)
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / temperature)))
        self.max_log_scale = math.log(max_scale)
        # Inference mode unless the training loop says otherwise: ``embed`` is called from
        # concurrent server threads and must not flip a shared module's mode.
        self.eval()

    @property
    def logit_scale(self) -> torch.Tensor:
        return self.log_scale.clamp(max=self.max_log_scale).exp()

    @property
    def trainable_views(self) -> list[str]:
        return [name for name, head in self.heads.items() if not head.frozen]

    def loss(self, views: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """Mean symmetric InfoNCE over every view pair with a trainable side.

        ``views`` maps a view to (features, presence mask) of the same batch of items; a pair
        uses the items present in both.
        """
        z = {name: self.heads[name](x) for name, (x, _) in views.items()}
        losses = []
        for a, b in combinations(views, 2):
            if self.heads[a].frozen and self.heads[b].frozen:
                continue
            both = views[a][1] & views[b][1]
            if int(both.sum()) < 2:
                continue
            logits = self.logit_scale * z[a][both] @ z[b][both].T
            target = torch.arange(len(logits))
            ce = nn.functional.cross_entropy
            losses.append((ce(logits, target) + ce(logits.T, target)) / 2)
        if not losses:
            raise ModelError("no view pair has two items present in this batch")
        return torch.stack(losses).mean()

    @torch.no_grad()
    def embed(self, view: str, matrix: np.ndarray, chunk: int = 4096) -> np.ndarray:
        """Aligned, unit-length embeddings of ``matrix`` rows in ``view``. Read-only, so safe
        from several threads: the module stays in eval mode outside its training loop."""
        if self.training:
            raise ModelError("Aligner.embed called in training mode; call eval() first")
        x = torch.as_tensor(matrix, dtype=torch.float32)
        out = torch.cat([self.heads[view](x[i : i + chunk]) for i in range(0, len(x), chunk)])
        return out.numpy()


@dataclass
class AlignReport:
    """What training saw and did, for logs and the index manifest."""

    views: list[str]
    n_items: int
    trained_pairs: int
    valid_pairs: int
    #: Items of the training set with fewer than two views, per missing view.
    skipped: dict[str, int]
    best_epoch: int = 0
    epochs_run: int = 0
    logit_scale: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)


def _statistics(matrix: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sample = matrix[rows]
    return sample.mean(axis=0), sample.std(axis=0) + 1e-6


def build_aligner(
    views: dict[str, tuple[np.ndarray, np.ndarray]],
    fit_items: np.ndarray,
    config: AlignConfig,
    frozen: tuple[str, ...] = (),
) -> Aligner:
    """Heads standardised on ``fit_items``' present rows; frozen views pass through."""
    heads = {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        for name, (matrix, mask) in views.items():
            if name in frozen:
                dim = matrix.shape[1]
                heads[name] = ViewHead(np.zeros(dim), np.ones(dim), None)
                continue
            rows = fit_items[mask[fit_items]]
            mean, std = _statistics(matrix, rows)
            heads[name] = ViewHead(mean, std, config)
    return Aligner(heads, config.temperature, config.max_logit_scale)


def _count_skipped(
    views: dict[str, tuple[np.ndarray, np.ndarray]], items: np.ndarray, eligible: np.ndarray
) -> dict[str, int]:
    dropped = np.setdiff1d(items, eligible)
    return {name: int((~mask[dropped]).sum()) for name, (_, mask) in views.items()}


def train_alignment(
    views: dict[str, tuple[np.ndarray, np.ndarray]],
    config: AlignConfig,
    items: np.ndarray | None = None,
    frozen: tuple[str, ...] = (),
) -> tuple[Aligner, AlignReport]:
    """Train heads on ``items`` (all rows by default) and return the best-validation model.

    ``views`` maps a view name to (features [n, d], presence mask [n]); all share rows.
    """
    n = next(iter(views.values()))[0].shape[0]
    items = np.arange(n) if items is None else np.asarray(items, dtype=np.int64)
    present = np.stack([mask[items] for _, mask in views.values()]).sum(axis=0)
    eligible = items[present >= 2]
    skipped = _count_skipped(views, items, eligible)
    if len(eligible) < MIN_PAIRS:
        raise ModelError(
            f"only {len(eligible)} items have at least two of the views {list(views)}; "
            f"alignment needs {MIN_PAIRS} or more"
        )
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(eligible)
    n_valid = max(2, int(round(config.valid_fraction * len(order))))
    valid, train = np.sort(order[:n_valid]), np.sort(order[n_valid:])
    model = build_aligner(views, train, config, frozen)
    report = AlignReport(list(views), n, len(train), len(valid), skipped)
    log.info(
        "alignment: %d items with two or more of %s (%d train, %d validation); skipped %d "
        "missing a view %s",
        len(eligible),
        list(views),
        len(train),
        len(valid),
        len(items) - len(eligible),
        skipped,
    )
    if not model.trainable_views:
        report.logit_scale = model.logit_scale.item()
        return model, report
    with torch.random.fork_rng(devices=[]):  # seeded dropout, caller's RNG left untouched
        torch.manual_seed(config.seed)
        _fit(model, views, train, valid, config, report)
    return model, report


def _batch(
    views: dict[str, tuple[np.ndarray, np.ndarray]], rows: np.ndarray
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    return {
        name: (torch.from_numpy(matrix[rows]), torch.from_numpy(mask[rows]))
        for name, (matrix, mask) in views.items()
    }


def _fit(
    model: Aligner,
    views: dict[str, tuple[np.ndarray, np.ndarray]],
    train: np.ndarray,
    valid: np.ndarray,
    config: AlignConfig,
    report: AlignReport,
) -> None:
    """AdamW with early stopping on the validation loss (all validation pairs in one batch)."""
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    valid_batch = _batch(views, valid)
    best, best_state, waited = math.inf, None, 0
    for epoch in range(1, config.epochs + 1):
        model.train()
        total, batches = 0.0, 0
        for index in torch.randperm(len(train)).split(config.batch_size):
            if len(index) < 2:
                continue
            loss = model.loss(_batch(views, train[index.numpy()]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, batches = total + loss.item(), batches + 1
        model.eval()
        with torch.no_grad():
            valid_loss = float(model.loss(valid_batch))
        report.history.append(
            {"epoch": epoch, "train_loss": total / max(batches, 1), "valid_loss": valid_loss}
        )
        if valid_loss < best - 1e-6:
            best, waited, report.best_epoch = valid_loss, 0, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            waited += 1
        if epoch % 10 == 0 or epoch == 1:
            log.info(
                "epoch %d: train loss %.4f, validation loss %.4f, temperature %.4f",
                epoch,
                report.history[-1]["train_loss"],
                valid_loss,
                1.0 / model.logit_scale.item(),
            )
        if waited >= config.patience:
            break
    report.epochs_run = len(report.history)
    if best_state is not None:
        model.load_state_dict(best_state)
    report.logit_scale = model.logit_scale.item()
    log.info(
        "alignment: best validation loss %.4f at epoch %d of %d",
        best,
        report.best_epoch,
        report.epochs_run,
    )
