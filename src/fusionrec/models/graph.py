"""Sparse graph utilities shared by graph models. Never builds a dense items x items matrix.

Fixed propagation matrices are ``SparseGraph`` modules rather than COO tensors: on CPU, a
CSR product with 64-d embeddings is about 5x faster than ``torch.sparse.mm`` on COO, and
autograd's own backward of a sparse product transposes and re-sorts the matrix on every
call, whereas the gradient ``A^T G`` only needs the transpose once (and none at all for the
symmetric normalised adjacency of LightGCN-style models). Measured in docs/performance.md.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn


def to_torch_sparse(mat: sp.spmatrix, device: torch.device | str = "cpu") -> torch.Tensor:
    """A scipy matrix as a coalesced torch sparse COO tensor (float32)."""
    coo = mat.tocoo()
    indices = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    values = torch.from_numpy(coo.data.astype(np.float32))
    return torch.sparse_coo_tensor(
        indices, values, coo.shape, device=device, check_invariants=False
    ).coalesce()


def _torch_csr(mat: sp.csr_matrix) -> torch.Tensor:
    mat = sp.csr_matrix(mat, dtype=np.float32)
    mat.sum_duplicates()
    mat.sort_indices()
    with warnings.catch_warnings():  # torch calls CSR "beta"; its products are tested here
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            torch.from_numpy(mat.indptr.astype(np.int64)),
            torch.from_numpy(mat.indices.astype(np.int64)),
            torch.from_numpy(mat.data),
            mat.shape,
            check_invariants=False,  # built by scipy: sorted, duplicate-free
        )


class _GraphProduct(torch.autograd.Function):
    """``A @ x`` whose backward is ``A^T @ grad`` with a transpose built once, not per call."""

    @staticmethod
    def forward(ctx, matrix: torch.Tensor, transposed: torch.Tensor, x: torch.Tensor):
        ctx.transposed = transposed
        return matrix @ x

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return None, None, ctx.transposed @ grad.contiguous()


class SparseGraph(nn.Module):
    """A fixed sparse matrix ``A`` (no gradient to its values); ``graph(x)`` is ``A @ x``.

    Its tensors are non-persistent buffers: they move with ``model.to(device)`` and stay out
    of checkpoints, since they are rebuilt from the training matrix.
    """

    def __init__(self, mat: sp.spmatrix, symmetric: bool | None = None) -> None:
        super().__init__()
        csr = sp.csr_matrix(mat, dtype=np.float32)
        if symmetric is None:
            symmetric = csr.shape[0] == csr.shape[1] and (csr != csr.T).nnz == 0
        self.shape = csr.shape
        self.symmetric = bool(symmetric)
        self.register_buffer("matrix", _torch_csr(csr), persistent=False)
        if not self.symmetric:
            self.register_buffer("transposed", _torch_csr(csr.T.tocsr()), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (torch.is_grad_enabled() and x.requires_grad):
            return self.matrix @ x
        return _GraphProduct.apply(self.matrix, self.t(), x)

    @classmethod
    def from_coo(cls, tensor: torch.Tensor) -> SparseGraph:
        """A fixed graph from a (detached) torch COO tensor, e.g. a learned graph frozen for
        the rest of an epoch."""
        t = tensor.detach().coalesce().cpu()
        idx = t.indices().numpy()
        mat = sp.csr_matrix((t.values().numpy(), (idx[0], idx[1])), shape=tuple(t.shape))
        return cls(mat).to(tensor.device)

    @property
    def nnz(self) -> int:
        return int(self.matrix.values().numel())

    @property
    def device(self) -> torch.device:
        return self.matrix.device

    def t(self) -> torch.Tensor:
        """The transpose as a CSR tensor (the matrix itself when symmetric)."""
        return self.matrix if self.symmetric else self.transposed

    def to_scipy(self) -> sp.csr_matrix:
        m = self.matrix.cpu()
        parts = (m.values().numpy(), m.col_indices().numpy(), m.crow_indices().numpy())
        return sp.csr_matrix(parts, shape=self.shape)


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


def normalized_bipartite(train: sp.csr_matrix, device: torch.device | str = "cpu") -> SparseGraph:
    """LightGCN's propagation matrix D^-1/2 A D^-1/2 (symmetric by construction)."""
    return SparseGraph(symmetric_normalize(bipartite_adjacency(train)), symmetric=True).to(device)


def knn_graph(
    features: torch.Tensor, k: int, mask: torch.Tensor | None = None, block: int = 1024
) -> sp.csr_matrix:
    """Sparse top-``k`` cosine-similarity graph over rows of ``features`` (self excluded).

    Similarities are computed block by block so memory stays O(block x n + n x k); rows whose
    ``mask`` is False (missing modality) get no edges and are never chosen as neighbours, so
    only the present rows are compared (a quarter of the work when half the items lack it).
    """
    n = features.shape[0]
    dev = features.device
    everyone = mask is None or bool(mask.all())
    kept = torch.arange(n, device=dev) if everyone else torch.nonzero(mask.bool().to(dev))[:, 0]
    x = torch.nn.functional.normalize((features if everyone else features[kept]).float(), dim=1)
    m = len(kept)
    k = min(k, m - 1)
    rows, cols, vals = [], [], []
    for start in range(0, m if k > 0 else 0, block):
        stop = min(m, start + block)
        sim = x[start:stop] @ x.T
        idx = torch.arange(start, stop, device=dev)
        sim[idx - start, idx] = -float("inf")
        top_val, top_idx = sim.topk(k, dim=1)
        rows.append(idx.unsqueeze(1).expand_as(top_idx).reshape(-1))
        cols.append(top_idx.reshape(-1))
        vals.append(top_val.reshape(-1))
    if not rows:
        return sp.csr_matrix((n, n), dtype=np.float32)
    r = kept[torch.cat(rows)].cpu().numpy()
    c = kept[torch.cat(cols)].cpu().numpy()
    v = torch.cat(vals).cpu().numpy().astype(np.float32)
    return sp.csr_matrix((v, (r, c)), shape=(n, n))
