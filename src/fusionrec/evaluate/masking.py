"""Masking already-seen items: one implementation for evaluation and for serving, so a
recommendation never shows what the evaluator would not count."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch


def row_entries(
    matrix: sp.csr_matrix, rows: np.ndarray, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Row/column index tensors of the nonzeros of ``matrix[rows]`` (rows local to ``rows``)."""
    sub = matrix[rows]
    local = np.repeat(np.arange(len(rows)), np.diff(sub.indptr))
    return (
        torch.from_numpy(local).to(device),
        torch.from_numpy(sub.indices.astype(np.int64)).to(device),
    )


def mask_seen(scores: torch.Tensor, seen: sp.csr_matrix, rows: np.ndarray) -> torch.Tensor:
    """Set ``scores[i, j]`` to -inf in place wherever ``seen[rows[i], j]`` is nonzero."""
    r, c = row_entries(seen, rows, scores.device)
    scores[r, c] = -torch.inf
    return scores
