"""MGCN: contract, masks, the frozen sparse item-item views and cold-start via content."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from missing_rows import spoil_missing_rows
from mm_fixtures import make_world, train_epochs

import fusionrec.models.mgcn  # noqa: F401
from fusionrec.models.base import build_model
from fusionrec.models.mm_graph_common import modality_item_graph

# tiny models: one thread is much faster on a busy shared machine (conftest fixture)
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def world():
    return make_world(seed=5)


def test_contract_and_finite_decreasing_loss(world):
    model = build_model("mgcn", world.data(), {})
    history = train_epochs(model, world, 4, lr=5e-3)
    assert all(np.isfinite(history)) and history[-1] < history[0]
    scores = model.score(torch.arange(6))
    assert scores.shape == (6, world.n_items) and torch.isfinite(scores).all()
    assert model.score(torch.arange(6), torch.tensor([0, 5])).shape == (6, 2)


def test_item_graphs_are_sparse_and_skip_missing_items(world):
    mod = world.features["image"]
    graph = modality_item_graph(mod, k=5)
    assert graph.nnz <= world.n_items * 5
    missing = np.flatnonzero(~mod.mask)
    assert graph[missing].nnz == 0 and graph[:, missing].nnz == 0
    model = build_model("mgcn", world.data(), {})
    used = model.ii["image"].to_scipy()  # the model keeps the graph sparse
    assert used.nnz <= world.n_items * model.params.knn_k
    assert used[missing].nnz == 0 and used[:, missing].nnz == 0


def test_missing_modality_features_are_never_read(world):
    model = build_model("mgcn", world.data(), {})
    model.eval()
    before = model.score(torch.arange(10)).clone()
    assert spoil_missing_rows(model.present["text"], scale=50.0) > 0
    model.train()
    model.eval()
    assert torch.allclose(before, model.score(torch.arange(10)), atol=1e-5)


def test_contrastive_loss_is_part_of_the_objective(world):
    batch = {
        "users": torch.arange(8),
        "pos_items": torch.arange(8),
        "neg_items": torch.arange(8, 16),
    }
    torch.manual_seed(0)
    with_cl = build_model("mgcn", world.data(), {"cl_loss": 1.0})
    torch.manual_seed(0)
    without = build_model("mgcn", world.data(), {"cl_loss": 0.0})
    assert with_cl.calculate_loss(batch) > without.calculate_loss(batch)


def test_beats_random_on_cold_items():
    world = make_world(n_items=400, cold_fraction=0.3, seed=6)
    model = build_model("mgcn", world.data(), {})
    train_epochs(model, world, 8, lr=5e-3)
    from fusionrec.evaluate.cold_start import expected_random_metrics

    ev = world.evaluator()
    assert ev.evaluate(model.score)["recall@20"] > 1.3 * expected_random_metrics(ev)["recall@20"]
