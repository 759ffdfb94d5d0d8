"""SMORE: contract, masks, the spectral filters and fused graph."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from missing_rows import spoil_missing_rows
from mm_fixtures import make_world, train_epochs

import fusionrec.models.smore  # noqa: F401
from fusionrec.data.features import ItemFeatures
from fusionrec.models.base import build_model
from fusionrec.models.mm_graph_common import max_pool_graphs, modality_item_graph

# tiny models: one thread is much faster on a busy shared machine (conftest fixture)
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def world():
    return make_world(seed=7)


def test_contract_and_finite_decreasing_loss(world):
    model = build_model("smore", world.data(), {"n_ui_layers": 2})
    history = train_epochs(model, world, 4, lr=5e-3)
    assert all(np.isfinite(history)) and history[-1] < history[0]
    scores = model.score(torch.arange(6))
    assert scores.shape == (6, world.n_items) and torch.isfinite(scores).all()


def test_fused_graph_is_the_elementwise_max(world):
    a = modality_item_graph(world.features["text"], 5)
    b = modality_item_graph(world.features["image"], 5)
    fused = max_pool_graphs([a, b])
    assert fused.nnz >= max(a.nnz, b.nnz)
    assert np.allclose(fused.toarray(), np.maximum(a.toarray(), b.toarray()))


def test_identity_filters_give_back_the_projection(world):
    model = build_model("smore", world.data(), {})
    with torch.no_grad():
        for p in model.filters.values():
            p.zero_()
            p[..., 0] = 1.0  # complex 1 at every frequency
        uni, fused = model.spectral()
        proj = model.trs["text"](torch.from_numpy(world.features["text"].matrix))
    assert torch.allclose(uni[0], proj, atol=1e-5)
    # with every modality present, fusion = circular convolution of the two projections
    both = torch.from_numpy(world.features["text"].mask & world.features["image"].mask)
    img = model.trs["image"](torch.from_numpy(world.features["image"].matrix))
    d = proj.shape[1]
    expected = torch.fft.irfft(
        torch.fft.rfft(proj, norm="ortho") * torch.fft.rfft(img, norm="ortho"), n=d, norm="ortho"
    )
    assert torch.allclose(fused[both], expected[both].detach(), atol=1e-5)


def test_missing_modality_is_the_identity_in_the_fusion(world):
    model = build_model("smore", world.data(), {})
    model.eval()
    only_text = torch.from_numpy(world.features["text"].mask & ~world.features["image"].mask)
    assert bool(only_text.any())
    _, fused = model.spectral()
    assert spoil_missing_rows(model.present["image"]) >= int(only_text.sum())
    _, fused_after = model.spectral()
    assert torch.allclose(fused[only_text], fused_after[only_text])


def test_single_modality_works(world):
    data = world.data()
    data.features = ItemFeatures(world.n_items, {"text": world.features["text"]})
    model = build_model("smore", data, {"n_ui_layers": 1})
    history = train_epochs(model, world, 2, lr=5e-3)
    assert np.isfinite(history).all()
