"""Sparse graph utilities shared by graph models. Never builds a dense items x items matrix."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch


def to_torch_sparse(mat: sp.spmatrix, device: torch.device | str = "cpu") -> torch.Tensor:
    """A scipy matrix as a coalesced torch sparse COO tensor (float32)."""
    coo = mat.tocoo()
    indices = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    values = torch.from_numpy(coo.data.astype(np.float32))
    return torch.sparse_coo_tensor(
        indices, values, coo.shape, device=device, check_invariants=False
    ).coalesce()


def symmetric_normalize(adj: sp.spmatrix) -> sp.csr_matrix:
    """D^-1/2 A D^-1/2, with isolated nodes left at zero."""
    adj = sp.csr_matrix(adj)
    deg = np.asarray(adj.sum(axis=1)).ravel()
    with np.errstate(divide="ignore"):
        inv_sqrt = np.where(deg > 0, deg, 1.0) ** -0.5
    inv_sqrt[deg == 0] = 0.0
    d = sp.diags(inv_sqrt)
    return (d @ adj @ d).tocsr()


def bipartite_adjacency(train: sp.csr_matrix) -> sp.csr_matrix:
    """The (users + items) square adjacency [[0, R], [R^T, 0]] of a user-item matrix."""
    r = sp.csr_matrix(train, dtype=np.float32)
    return sp.bmat([[None, r], [r.T, None]], format="csr")


def normalized_bipartite(train: sp.csr_matrix, device: torch.device | str = "cpu") -> torch.Tensor:
    """LightGCN's propagation matrix D^-1/2 A D^-1/2 as a torch sparse tensor."""
    return to_torch_sparse(symmetric_normalize(bipartite_adjacency(train)), device)


def knn_graph(
    features: torch.Tensor, k: int, mask: torch.Tensor | None = None, block: int = 1024
) -> sp.csr_matrix:
    """Sparse top-``k`` cosine-similarity graph over rows of ``features`` (self excluded).

    Similarities are computed block by block so memory stays O(block x n + n x k); rows whose
    ``mask`` is False (missing modality) get no edges and are never chosen as neighbours.
    """
    n = features.shape[0]
    k = min(k, n - 1)
    x = torch.nn.functional.normalize(features.float(), dim=1)
    dev = x.device
    valid = torch.ones(n, dtype=torch.bool, device=dev) if mask is None else mask.bool().to(dev)
    rows, cols, vals = [], [], []
    for start in range(0, n, block):
        stop = min(n, start + block)
        sim = x[start:stop] @ x.T
        sim[:, ~valid] = -float("inf")
        idx = torch.arange(start, stop, device=dev)
        sim[idx - start, idx] = -float("inf")
        top_val, top_idx = sim.topk(k, dim=1)
        keep = torch.isfinite(top_val) & valid[start:stop].unsqueeze(1)
        r = idx.unsqueeze(1).expand_as(top_idx)
        rows.append(r[keep])
        cols.append(top_idx[keep])
        vals.append(top_val[keep])
    r = torch.cat(rows).cpu().numpy()
    c = torch.cat(cols).cpu().numpy()
    v = torch.cat(vals).cpu().numpy().astype(np.float32)
    return sp.csr_matrix((v, (r, c)), shape=(n, n))
