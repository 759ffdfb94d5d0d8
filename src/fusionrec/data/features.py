"""Item features: one matrix and one presence mask per modality, aligned with item indices.

The mask is the honest part: an item whose image is missing or unreadable has ``mask`` False
and a zero row that no model may read as a real feature. Models consume ``ItemFeatures``;
encoders and pre-computed-feature importers produce it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np


@dataclass
class ModalityFeatures:
    """``matrix`` float32 [n_items, dim]; ``mask`` bool [n_items]; ``encoder_id`` provenance."""

    name: str
    matrix: np.ndarray
    mask: np.ndarray
    encoder_id: str = "precomputed"
    problems: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.matrix = np.ascontiguousarray(self.matrix, dtype=np.float32)
        self.mask = np.asarray(self.mask, dtype=bool)
        if self.matrix.ndim != 2:
            raise ValueError(f"modality '{self.name}': matrix must be 2-D, got {self.matrix.shape}")
        if self.mask.shape != (self.matrix.shape[0],):
            raise ValueError(
                f"modality '{self.name}': mask has shape {self.mask.shape}, "
                f"expected ({self.matrix.shape[0]},)"
            )
        self.matrix[~self.mask] = 0.0

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    @property
    def coverage(self) -> float:
        return float(self.mask.mean()) if self.mask.size else 0.0

    def subset(self, items: np.ndarray) -> ModalityFeatures:
        return ModalityFeatures(self.name, self.matrix[items], self.mask[items], self.encoder_id)


@dataclass
class ItemFeatures:
    """The modalities of one catalogue, all with ``n_items`` rows."""

    n_items: int
    modalities: dict[str, ModalityFeatures] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for mod in self.modalities.values():
            self._check(mod)

    def _check(self, mod: ModalityFeatures) -> None:
        if mod.matrix.shape[0] != self.n_items:
            raise ValueError(
                f"modality '{mod.name}' has {mod.matrix.shape[0]} rows but the catalogue has "
                f"{self.n_items} items"
            )

    def add(self, mod: ModalityFeatures) -> None:
        self._check(mod)
        self.modalities[mod.name] = mod

    def __getitem__(self, name: str) -> ModalityFeatures:
        return self.modalities[name]

    def __contains__(self, name: object) -> bool:
        return name in self.modalities

    def __iter__(self) -> Iterator[ModalityFeatures]:
        return iter(self.modalities.values())

    def __len__(self) -> int:
        return len(self.modalities)

    @property
    def names(self) -> list[str]:
        return list(self.modalities)

    def select(self, names: list[str] | None) -> ItemFeatures:
        if names is None:
            return self
        missing = [n for n in names if n not in self.modalities]
        if missing:
            raise KeyError(f"modalities {missing} not available; have {self.names}")
        return ItemFeatures(self.n_items, {n: self.modalities[n] for n in names})

    def summary(self) -> dict[str, dict[str, object]]:
        return {
            m.name: {
                "dim": m.dim,
                "present": int(m.mask.sum()),
                "missing": int((~m.mask).sum()),
                "coverage": round(m.coverage, 4),
                "encoder": m.encoder_id,
            }
            for m in self
        }
