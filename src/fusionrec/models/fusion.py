"""Fusion operators: how per-modality item vectors become one item vector.

Each operator takes a list of ``[n, d]`` tensors (one per modality, already projected to a
common size) and a list of ``[n]`` presence masks, and returns ``[n, d]``. Missing modalities
never contribute: their weight is zero and the remaining weights are renormalised, so an
item with only text is represented by its text rather than by text averaged with zeros.
Config picks the operator by name (``concat``, ``sum``, ``gated``).
"""

from __future__ import annotations

import torch
from torch import nn

from fusionrec.data.features import ItemFeatures


class PresentRows(nn.Module):
    """A modality's feature rows that hold features, packed once: the only copy of the rows.

    A missing modality's row is all zeros (``ModalityFeatures`` zeroes it), so any projection
    maps every such row to the same vector, ``layer(0)``. ``project`` runs the layer on the
    packed present rows only and gives the missing rows ``layer(0)``: the same output and
    gradients as ``layer(matrix)`` for less work. On movielens-latest-small-mm half of the
    movies have no poster, and the 1280-wide poster projection of every item is the largest
    product of a multimodal model's training step. Keeping only the packed rows also keeps
    the zeros out of memory; ``take`` and ``full`` rebuild rows of the full matrix.
    """

    def __init__(self, matrix: torch.Tensor, mask: torch.Tensor) -> None:
        super().__init__()
        self.n_rows, self.dim = matrix.shape
        some_missing = not bool(mask.all())
        rows = torch.nonzero(mask).squeeze(1) if some_missing else None
        where = None
        if rows is not None:
            # row of each item in ``packed``; -1 where the item lacks the modality
            where = torch.full((self.n_rows,), -1, dtype=torch.long)
            where[rows] = torch.arange(len(rows))
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("where", where, persistent=False)
        self.register_buffer("packed", matrix[mask] if some_missing else matrix, persistent=False)

    def project(self, layer: nn.Module) -> torch.Tensor:
        """``layer`` applied to every row of the full matrix, [n_rows, out]."""
        if self.rows is None:
            return layer(self.packed)
        zero = layer(self.packed.new_zeros(1, self.dim))
        return zero.expand(self.n_rows, -1).index_copy(0, self.rows, layer(self.packed))

    def take(self, items: torch.Tensor) -> torch.Tensor:
        """Rows ``items`` of the full matrix (zeros where the modality is missing)."""
        if self.rows is None:
            return self.packed[items]
        at = self.where[items]
        if len(self.packed) == 0:
            return self.packed.new_zeros(*at.shape, self.dim)
        present = (at >= 0).unsqueeze(-1).to(self.packed.dtype)
        return self.packed[at.clamp_min(0)] * present

    def full(self) -> torch.Tensor:
        """The full matrix, built anew on each call: for one-off uses such as kNN graphs."""
        if self.rows is None:
            return self.packed
        return self.packed.new_zeros(self.n_rows, self.dim).index_copy(0, self.rows, self.packed)


class ModalityProjector(nn.Module):
    """Maps each modality's raw feature matrix to ``dim`` with a linear layer (+ optional MLP).

    Holds the raw features (``PresentRows``: the rows that exist), so ``forward()`` returns
    the projected matrices and masks for all items. ``standardize`` z-scores every feature
    dimension over the items that have the modality: pretrained CNN features are non-negative
    and share a large common component, so unstandardised projections of different items
    start out almost parallel and a model can settle on one constant "image vector" for
    every item.
    """

    def __init__(
        self, features: ItemFeatures, dim: int, hidden: int | None = None, standardize: bool = False
    ) -> None:
        super().__init__()
        self.names = features.names
        self.proj = nn.ModuleDict()
        self.present = nn.ModuleDict()
        for mod in features:
            x = torch.from_numpy(mod.matrix)
            mask = torch.from_numpy(mod.mask)
            shift, scale = torch.zeros(mod.dim), torch.ones(mod.dim)
            if standardize and bool(mask.any()):
                shift = x[mask].mean(dim=0)
                scale = x[mask].std(dim=0, unbiased=False).clamp_min(1e-6)
                x = torch.where(mask.unsqueeze(1), (x - shift) / scale, torch.zeros_like(x))
            self.register_buffer(f"shift_{mod.name}", shift, persistent=False)
            self.register_buffer(f"scale_{mod.name}", scale, persistent=False)
            self.register_buffer(f"mask_{mod.name}", mask, persistent=False)
            self.present[mod.name] = PresentRows(x, mask)
            if hidden:
                self.proj[mod.name] = nn.Sequential(
                    nn.Linear(mod.dim, hidden), nn.LeakyReLU(), nn.Linear(hidden, dim)
                )
            else:
                self.proj[mod.name] = nn.Linear(mod.dim, dim)

    def encode(self, name: str, features: torch.Tensor) -> torch.Tensor:
        """Project new raw feature rows of ``name`` exactly as the stored ones are projected."""
        shift, scale = getattr(self, f"shift_{name}"), getattr(self, f"scale_{name}")
        return self.proj[name]((features - shift) / scale)

    def raw(self, name: str) -> torch.Tensor:
        """Every item's (standardised) ``name`` features, built anew: for one-off uses."""
        return self.present[name].full()

    def rows(self, name: str, items: torch.Tensor) -> torch.Tensor:
        """The (standardised) ``name`` feature rows of ``items``."""
        return self.present[name].take(items)

    def mask(self, name: str) -> torch.Tensor:
        return getattr(self, f"mask_{name}")

    def project(self, name: str) -> torch.Tensor:
        """Every item's projected ``name`` features (missing rows: the projection of zeros)."""
        return self.present[name].project(self.proj[name])

    def forward(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        outs = [self.project(n) for n in self.names]
        return outs, [self.mask(n) for n in self.names]

    def project_at(self, name: str, items: torch.Tensor) -> torch.Tensor:
        """``project(name)[items]``, computed for those rows only: a loss that reads only a
        batch's items then projects a few thousand rows, not the whole catalogue, each step."""
        return self.proj[name](self.rows(name, items))

    def project_rows(self, items: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """``forward()``'s rows ``items`` (projections and masks), for those rows only."""
        outs = [self.project_at(n, items) for n in self.names]
        return outs, [self.mask(n)[items] for n in self.names]


def _weights(masks: list[torch.Tensor], logits: torch.Tensor | None = None) -> torch.Tensor:
    """[n, M] weights over modalities: softmax of ``logits`` (uniform if None) restricted to
    the modalities present for each item; rows with nothing present get all zeros."""
    present = torch.stack(masks, dim=1)
    if logits is None:
        logits = torch.zeros(present.shape, device=present.device)
    logits = logits.masked_fill(~present, -torch.inf)
    w = torch.softmax(logits, dim=1)
    return torch.nan_to_num(w, nan=0.0)


class ConcatFusion(nn.Module):
    """Concatenate modality vectors (missing ones zeroed) and project back to ``dim``."""

    def __init__(self, n_modalities: int, dim: int) -> None:
        super().__init__()
        self.out = nn.Linear(n_modalities * dim, dim)

    def forward(self, xs: list[torch.Tensor], masks: list[torch.Tensor]) -> torch.Tensor:
        parts = [x * m.unsqueeze(1).to(x.dtype) for x, m in zip(xs, masks, strict=True)]
        return self.out(torch.cat(parts, dim=1))


class WeightedSumFusion(nn.Module):
    """A learned global weight per modality (softmax), renormalised over present ones."""

    def __init__(self, n_modalities: int, dim: int) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(n_modalities))

    def forward(self, xs: list[torch.Tensor], masks: list[torch.Tensor]) -> torch.Tensor:
        logits = self.logits.unsqueeze(0).expand(xs[0].shape[0], -1)
        w = _weights(masks, logits)
        return torch.einsum("nm,nmd->nd", w, torch.stack(xs, dim=1))

    def modality_weights(self) -> torch.Tensor:
        return torch.softmax(self.logits.detach(), dim=0)


class GatedAttentionFusion(nn.Module):
    """Per-item attention over modalities: a gate scores each modality vector
    (tanh(W x) . q), the softmax over present modalities weights the sum."""

    def __init__(self, n_modalities: int, dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.key = nn.Linear(dim, hidden)
        self.query = nn.Linear(hidden, 1, bias=False)

    def forward(self, xs: list[torch.Tensor], masks: list[torch.Tensor]) -> torch.Tensor:
        stacked = torch.stack(xs, dim=1)
        logits = self.query(torch.tanh(self.key(stacked))).squeeze(-1)
        w = _weights(masks, logits)
        return torch.einsum("nm,nmd->nd", w, stacked)


FUSIONS: dict[str, type[nn.Module]] = {
    "concat": ConcatFusion,
    "sum": WeightedSumFusion,
    "gated": GatedAttentionFusion,
}


def make_fusion(name: str, n_modalities: int, dim: int) -> nn.Module:
    if name not in FUSIONS:
        raise ValueError(f"unknown fusion '{name}'; choose from {sorted(FUSIONS)}")
    return FUSIONS[name](n_modalities, dim)
