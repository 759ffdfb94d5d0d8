"""Garbage in the projected features of items that lack a modality, for masking tests.

A missing modality's feature row is zero and ``PresentRows`` does not even keep it, so there
is no raw row to poke. These tests instead spoil what ``PresentRows`` hands a model for those
items, projected (``project``) or raw (``take``): a model that masks missing modalities scores
and trains exactly as before.
"""

from __future__ import annotations

import torch
from torch import nn

from fusionrec.models.fusion import PresentRows


def spoil_missing_rows(present: PresentRows, scale: float = 100.0) -> int:
    """Make ``present.project`` add the same large noise to every missing row on every call;
    returns how many rows are spoiled."""
    assert present.rows is not None, "every row has the modality: nothing to spoil"
    missing = torch.ones(present.n_rows, dtype=torch.bool)
    missing[present.rows] = False
    inner = present.project

    def project(layer: nn.Module) -> torch.Tensor:
        out = inner(layer)
        noise = torch.randn(out.shape, generator=torch.Generator().manual_seed(0)) * scale
        return torch.where(missing.unsqueeze(1), out + noise, out)

    present.project = project  # type: ignore[method-assign]
    return int(missing.sum())


def spoil_missing_raw_rows(present: PresentRows, scale: float = 1e3) -> int:
    """Make ``present.take`` return a large constant for every missing item's row; returns
    how many rows are spoiled."""
    assert present.rows is not None, "every row has the modality: nothing to spoil"
    inner = present.take

    def take(items: torch.Tensor) -> torch.Tensor:
        out = inner(items)
        return torch.where((present.where[items] < 0).unsqueeze(-1), out + scale, out)

    present.take = take  # type: ignore[method-assign]
    return present.n_rows - len(present.rows)
