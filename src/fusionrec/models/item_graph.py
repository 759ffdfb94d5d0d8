"""Item-item graphs from modality features, shared by the multimodal graph models.

FREEDOM and LATTICE both turn each modality into a sparse kNN graph over items and mix the
modality graphs with weights. Two things are easy to get wrong and are done once here:

* missing modalities: an item whose modality is absent gets no edges in that modality's
  graph, and the weights of the modalities it does have are renormalised (an item with only
  text is propagated over its text neighbours at full strength, not at 90 % of it);
* memory: every graph is sparse (<= k edges per row, plus an optional self-loop); no dense
  items x items matrix is ever built, neither here nor in ``graph.knn_graph``.

The user-item side holds FREEDOM's degree-sensitive edge sampling.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from fusionrec.models.graph import knn_graph, symmetric_normalize


def knn_adjacency(
    features: torch.Tensor,
    k: int,
    mask: torch.Tensor | None = None,
    *,
    binary: bool = True,
    self_loop: bool = True,
) -> sp.csr_matrix:
    """Symmetrically normalised kNN graph of one modality (D^-1/2 A D^-1/2, D = out-degree).

    With ``self_loop`` each present item counts itself as one of its ``k`` neighbours, as
    MMRec's top-k over the full similarity row does. ``binary`` keeps 0/1 edges (FREEDOM);
    otherwise the cosine similarities (clipped at 0) are the edge weights (LATTICE).
    """
    n = features.shape[0]
    present = np.ones(n, dtype=bool) if mask is None else mask.cpu().numpy().astype(bool)
    n_neighbours = k - 1 if self_loop else k
    if n_neighbours > 0 and n > 1:
        adj = knn_graph(features.detach().cpu(), n_neighbours, None if mask is None else mask.cpu())
    else:
        adj = sp.csr_matrix((n, n), dtype=np.float32)
    adj.data = np.ones_like(adj.data) if binary else np.maximum(adj.data, 0.0)
    if self_loop:
        adj = adj + sp.diags(present.astype(np.float32))
    adj.eliminate_zeros()
    return symmetric_normalize(adj).astype(np.float32)


def modality_row_scale(masks: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """Per-item factor 1 / sum(weights of the modalities the item has) (0 if it has none)."""
    present = np.stack([np.asarray(m, dtype=bool) for m in masks], axis=1)
    total = present.astype(np.float64) @ np.asarray(weights, dtype=np.float64)
    scale = np.zeros_like(total)
    np.divide(1.0, total, out=scale, where=total > 0)
    return scale.astype(np.float32)


def combine_graphs(
    graphs: list[sp.csr_matrix], masks: list[np.ndarray], weights: list[float] | np.ndarray
) -> sp.csr_matrix:
    """sum_m w_m G_m with each row renormalised over the modalities that item has."""
    weights = np.asarray(weights, dtype=np.float64)
    out = sp.csr_matrix(graphs[0].shape, dtype=np.float32)
    for g, w in zip(graphs, weights, strict=True):
        out = out + float(w) * g
    out = sp.diags(modality_row_scale(masks, weights)) @ out
    return sp.csr_matrix(out, dtype=np.float32)


def sparse_sym_normalize(
    indices: torch.Tensor, values: torch.Tensor, n: int, eps: float = 1e-7
) -> torch.Tensor:
    """Differentiable D^-1/2 A D^-1/2 on COO edge values (D = row sums of ``values``)."""
    deg = torch.zeros(n, dtype=values.dtype, device=values.device)
    deg = deg.index_add(0, indices[0], values)
    inv = (deg + eps).pow(-0.5) * (deg > 0)
    return values * inv[indices[0]] * inv[indices[1]]


def edge_keep_weights(train: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """User-item edges and their FREEDOM sampling weights 1 / sqrt(d_u d_i)."""
    coo = sp.coo_matrix(train)
    d_u = np.asarray(train.sum(axis=1)).ravel()
    d_i = np.asarray(train.sum(axis=0)).ravel()
    w = 1.0 / np.sqrt(d_u[coo.row] * d_i[coo.col])
    return coo.row.astype(np.int64), coo.col.astype(np.int64), w.astype(np.float64)


def degree_sensitive_sample(
    weights: np.ndarray, n_keep: int, generator: torch.Generator | None = None
) -> np.ndarray:
    """Indices of ``n_keep`` edges drawn without replacement with probability proportional to
    ``weights`` (Efraimidis-Spirakis keys u^(1/w): vectorised, no per-edge loop, no 2^24 cap
    as with ``torch.multinomial``)."""
    n = len(weights)
    n_keep = int(min(max(n_keep, 0), n))
    if n_keep == n:
        return np.arange(n)
    u = torch.rand(n, generator=generator, dtype=torch.float64).clamp_min(1e-300)
    keys = u.log() / torch.from_numpy(weights)
    return torch.topk(keys, n_keep).indices.numpy()
