"""LATTICE: contract, sparse learned item graph with gradient, missing modalities, and the
learned graph carrying signal to items never seen in training."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from synthetic_mm import (
    Synthetic,
    check_scores,
    cluster_purity,
    loss_trajectory,
    sample_batch,
    text_only,
    train_quick,
)

from fusionrec.models.base import TrainData, build_model
from fusionrec.models.lattice import LATTICE, LATTICEParams

pytestmark = pytest.mark.usefixtures("one_thread")


def make(data: TrainData, **params) -> LATTICE:
    torch.manual_seed(0)
    return LATTICE(data, LATTICEParams(**params))


def to_scipy(t: torch.Tensor) -> sp.csr_matrix:
    t = t.detach().coalesce()
    i = t.indices().numpy()
    return sp.csr_matrix((t.values().numpy(), (i[0], i[1])), shape=tuple(t.shape))


@pytest.mark.parametrize("cf_model", ["lightgcn", "mf"])
def test_scores_and_loss(synthetic: Synthetic, cf_model: str) -> None:
    model = make(synthetic.data, cf_model=cf_model)
    check_scores(model, synthetic.data.n_users, synthetic.data.n_items)
    losses = loss_trajectory(model, sample_batch(synthetic.data))
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.7 * losses[0]


def test_single_modality_multiple_negatives(synthetic: Synthetic) -> None:
    model = make(text_only(synthetic))
    losses = loss_trajectory(model, sample_batch(synthetic.data, n_neg=3), steps=10)
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    check_scores(model, synthetic.data.n_users, synthetic.data.n_items)
    assert isinstance(build_model("lattice", synthetic.data, {"knn_k": 5}), LATTICE)


def test_item_graph_sparse_and_differentiable(synthetic: Synthetic) -> None:
    k, n = 10, synthetic.data.n_items
    model = make(synthetic.data, knn_k=k)
    adj = model.build_item_graph()
    assert adj.is_sparse
    # learned + raw graph per modality, each <= k edges per item
    assert adj._nnz() <= 2 * 2 * k * n
    for name in model.names:
        raw = to_scipy(getattr(model, f"raw_adj_{name}"))
        assert raw.nnz <= k * n and cluster_purity(raw, synthetic.cluster) > 0.9
    assert cluster_purity(to_scipy(adj), synthetic.cluster) > 0.9
    # the learned part must pass gradient to the projections and the modality weights
    torch.sparse.mm(adj, model.item_emb.weight).pow(2).sum().backward()
    assert model.modal_logits.grad is not None and model.modal_logits.grad.abs().sum() > 0
    for name in model.names:
        assert model.projector.proj[name].weight.grad.abs().sum() > 0


def test_graph_rebuilt_once_per_epoch(synthetic: Synthetic) -> None:
    model = make(synthetic.data)
    batch = sample_batch(synthetic.data)
    model.train()
    model.on_epoch_start(1)
    model.calculate_loss(batch).backward()
    first = model._item_adj
    model.zero_grad()
    model.calculate_loss(batch).backward()  # reuses the detached graph
    assert model._item_adj is first
    assert model.projector.proj["text"].weight.grad is None
    model.on_epoch_start(2)
    model.calculate_loss(batch)
    assert model._item_adj is not first


def test_missing_modality_rows(synthetic: Synthetic) -> None:
    model = make(synthetic.data)
    missing = np.flatnonzero(~synthetic.data.features["image"].mask)
    raw_image = to_scipy(model.raw_adj_image)
    assert raw_image[missing].nnz == 0 and raw_image[:, missing].nnz == 0
    idx, _ = model._learned_edges("image")
    assert not np.isin(idx.numpy(), missing).any()
    # items without image still have a full-strength (text) neighbourhood in S
    adj = to_scipy(model.build_item_graph())
    assert (np.asarray(adj[missing].sum(axis=1)).ravel() > 0).all()


def test_learned_graph_reaches_cold_items(synthetic: Synthetic) -> None:
    """Cold items get their neighbours' id embeddings through the content graph; without it
    (lambda=1 and a shuffled raw graph: a broken item graph) they rank no better than chance."""
    evaluator = synthetic.cold_evaluator()
    model = make(synthetic.data)
    train_quick(model, synthetic, epochs=12)
    good = evaluator.evaluate(model.eval().score)["recall@5"]

    broken = make(synthetic.data, lambda_coeff=1.0)
    perm = torch.from_numpy(np.random.default_rng(0).permutation(synthetic.data.n_items))
    for name in broken.names:
        adj = getattr(broken, f"raw_adj_{name}")
        i = adj.indices().clone()
        i[0] = perm[i[0]]  # every item gets the neighbours of a random item
        shuffled = torch.sparse_coo_tensor(
            i, adj.values(), adj.shape, check_invariants=True
        ).coalesce()
        setattr(broken, f"raw_adj_{name}", shuffled)
    train_quick(broken, synthetic, epochs=12)
    bad = evaluator.evaluate(broken.eval().score)["recall@5"]
    assert good > 0.45 and good > bad + 0.15, (good, bad)


def test_edge_propagation_matches_sparse_mm_with_gradients():
    import torch

    from fusionrec.models.lattice import edge_propagate

    gen = torch.Generator().manual_seed(0)
    idx = torch.randint(0, 30, (2, 120), generator=gen)
    vals = torch.rand(120, generator=gen, requires_grad=True)
    h = torch.randn(30, 8, generator=gen, requires_grad=True)
    adj = torch.sparse_coo_tensor(idx, vals, (30, 30), check_invariants=True).coalesce()
    out = edge_propagate(adj, h)
    ref = adj.detach().to_dense() @ h
    assert torch.allclose(out, ref, atol=1e-5)
    out.sum().backward()
    dense_vals = vals.detach().clone().requires_grad_(True)
    dense = torch.zeros(30, 30).index_put((idx[0], idx[1]), dense_vals, accumulate=True)
    (dense @ h.detach()).sum().backward()
    assert torch.allclose(vals.grad, dense_vals.grad, atol=1e-5)
