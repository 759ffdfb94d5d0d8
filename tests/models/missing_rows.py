"""Garbage in the projected features of items that lack a modality, for masking tests.

A missing modality's feature row is zero and ``PresentRows`` never reads it, so poking the
raw row no longer reaches a model. These tests instead spoil what the projection returns for
those items: a model that masks missing modalities scores and trains exactly as before.
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
