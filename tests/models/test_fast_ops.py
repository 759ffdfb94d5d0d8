"""The fast paths of training (CSR graph products with a prebuilt transpose, one gather for
positives and negatives, InfoNCE over distinct batch rows) compute what the plain
formulas compute, values and gradients."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from fusionrec.models.base import gather_rows
from fusionrec.models.graph import SparseGraph, knn_graph, symmetric_normalize
from fusionrec.models.multitask_heads import batch_info_nce, info_nce, one_way_info_nce


def _random(shape: tuple[int, int], seed: int) -> sp.csr_matrix:
    return sp.random(*shape, density=0.1, random_state=seed, format="csr", dtype=np.float32)


@pytest.mark.parametrize(
    "mat",
    [
        symmetric_normalize(_random((30, 30), 0) + _random((30, 30), 0).T),  # symmetric
        _random((30, 30), 1),  # square, not symmetric (a kNN item graph)
        _random((20, 35), 2),  # users x items (R_hat)
    ],
    ids=["symmetric", "square", "rectangular"],
)
def test_sparse_graph_product_and_gradient_match_dense(mat: sp.csr_matrix) -> None:
    graph = SparseGraph(mat)
    assert graph.symmetric == (mat.shape[0] == mat.shape[1] and (mat != mat.T).nnz == 0)
    dense = torch.from_numpy(mat.toarray())
    x = torch.randn(mat.shape[1], 8, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_()
    weights = torch.randn(mat.shape[0], 8)
    out, ref = graph(x), dense @ x_ref
    assert torch.allclose(out, ref, atol=1e-5)
    (out * weights).sum().backward()
    (ref * weights).sum().backward()
    assert torch.allclose(x.grad, x_ref.grad, atol=1e-5)
    with torch.no_grad():
        assert torch.allclose(graph(x), ref, atol=1e-5)


def test_sparse_graph_stays_out_of_checkpoints_and_round_trips_to_scipy() -> None:
    mat = _random((12, 12), 3)
    holder = torch.nn.Module()
    holder.graph = SparseGraph(mat)
    assert holder.state_dict() == {}  # rebuilt from the training matrix, never saved
    assert holder.graph.nnz == mat.nnz
    assert (holder.graph.to_scipy() != mat).nnz == 0


def test_gather_rows_matches_separate_indexing_with_gradients() -> None:
    table = torch.randn(10, 4, requires_grad=True)
    pos, neg = torch.tensor([1, 3, 3]), torch.tensor([[2, 9], [0, 3], [5, 5]])
    p, n = gather_rows(table, pos, neg)
    assert torch.equal(p, table[pos]) and torch.equal(n, table[neg])
    (p.sum() + 2 * n.sum()).backward()
    expected = torch.zeros(10)
    expected.index_add_(0, pos, torch.ones(3))
    expected.index_add_(0, neg.reshape(-1), torch.full((6,), 2.0))
    assert torch.allclose(table.grad[:, 0], expected)


def _reference_batch_info_nce(a, b, idx, t):
    """Per occurrence: its own row is the positive, every *other distinct* row of the batch a
    negative; the mean over the occurrences of the batch."""
    distinct = sorted(set(idx.tolist()))
    losses = []
    for r in idx.tolist():
        anchor = F.normalize(a[r], dim=0)
        logits = torch.stack([anchor @ F.normalize(b[c], dim=0) / t for c in distinct])
        losses.append(-torch.log_softmax(logits, dim=0)[distinct.index(r)])
    return torch.stack(losses).mean()


def test_batch_info_nce_counts_every_occurrence_but_never_a_row_as_its_own_negative() -> None:
    torch.manual_seed(0)
    a, b = torch.randn(12, 6), torch.randn(12, 6)
    idx = torch.tensor([3, 7, 3, 3, 0, 11, 7, 5])  # repeats: 3 three times, 7 twice
    got = batch_info_nce(a, b, idx, 0.2)
    assert torch.allclose(got, _reference_batch_info_nce(a, b, idx, 0.2), atol=1e-5)
    # without repeats it is the plain one-way InfoNCE over the batch
    distinct = torch.tensor([4, 1, 9, 2])
    plain = one_way_info_nce(a[distinct], b[distinct], 0.2)
    assert torch.allclose(batch_info_nce(a, b, distinct, 0.2), plain, atol=1e-6)


def test_symmetric_info_nce_is_the_mean_of_both_directions_with_the_logits_over_tau() -> None:
    """The temperature scales the rows, not the n x n logits: the same loss and gradients."""
    torch.manual_seed(1)
    a, b = torch.randn(9, 5, requires_grad=True), torch.randn(9, 5, requires_grad=True)
    got = info_nce(a, b, 0.3)
    (grad_a, grad_b) = torch.autograd.grad(got, (a, b))
    logits = F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T / 0.3
    target = torch.arange(9)
    want = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
    assert torch.allclose(got, want, atol=1e-6)
    for g, w in zip((grad_a, grad_b), torch.autograd.grad(want, (a, b)), strict=True):
        assert torch.allclose(g, w, atol=1e-6)


@pytest.mark.parametrize("present", ["all", "some", "one", "none"])
@pytest.mark.parametrize("block", [4, 1024])
def test_knn_graph_links_each_present_row_to_its_nearest_present_rows(present, block) -> None:
    """Against a per-row reference: cosine over present rows only, self excluded, ``k`` best;
    a missing row has no edges and is nobody's neighbour."""
    rng = np.random.default_rng(3)
    n, k = 23, 5
    feats = rng.normal(size=(n, 6)).astype(np.float32)
    mask = {"all": np.ones(n, bool), "some": rng.random(n) < 0.5, "one": np.arange(n) == 7,
            "none": np.zeros(n, bool)}[present]  # fmt: skip
    feats[~mask] = 0.0
    graph = knn_graph(torch.from_numpy(feats), k, torch.from_numpy(mask), block=block)
    assert graph.shape == (n, n)
    unit = feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
    have = np.flatnonzero(mask)
    for i in range(n):
        row = graph.getrow(i)
        if not mask[i]:
            assert row.nnz == 0
            continue
        others = have[have != i]
        sims = unit[others] @ unit[i]
        best = others[np.argsort(-sims)[: min(k, len(others))]]
        assert sorted(row.indices) == sorted(best)
        np.testing.assert_allclose(row.toarray()[0, best], unit[best] @ unit[i], atol=1e-5)
    assert graph[:, ~mask].nnz == 0
