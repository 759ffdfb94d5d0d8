"""mtl-fusion and its reusable heads: contract, masks, and that each auxiliary task and the
uncertainty weighting actually do their job."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from missing_rows import spoil_missing_rows
from mm_fixtures import make_world, train_epochs

import fusionrec.models.multitask  # noqa: F401  (registers mtl-fusion)
from fusionrec.errors import ModelError
from fusionrec.models.base import build_model
from fusionrec.models.multitask_heads import TaskHead, UncertaintyWeighting, info_nce

# tiny models: one thread is much faster on a busy shared machine (conftest fixture)
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def world():
    return make_world(seed=1)


def test_scores_have_the_contract_shapes(world):
    model = build_model("mtl-fusion", world.data(), {"n_layers": 1})
    model.eval()
    users = torch.arange(5)
    assert model.score(users).shape == (5, world.n_items)
    assert model.score(users, torch.tensor([0, 3, 7])).shape == (5, 3)
    assert torch.isfinite(model.score(users)).all()
    assert model.item_embeddings().shape == (world.n_items, 64)


@pytest.mark.parametrize(("weighting", "fusion"), [("fixed", "gated"), ("uncertainty", "concat")])
def test_loss_is_finite_and_decreases(world, weighting, fusion):
    model = build_model("mtl-fusion", world.data(), {"weighting": weighting, "fusion": fusion})
    history = train_epochs(model, world, 3, lr=5e-3)
    assert all(np.isfinite(history))
    assert history[-1] < history[0]
    losses = model.task_losses(next(iter(_one_batch(world))))
    assert set(losses) == {"rec", "label:genres", "align"}


def _one_batch(world):
    from mm_fixtures import batches

    return batches(world, batch_size=256)


def test_missing_modality_rows_are_never_read(world):
    model = build_model("mtl-fusion", world.data(), {"fusion": "concat"})
    model.eval()
    missing = np.flatnonzero(~world.features["image"].mask)
    assert len(missing) > 0
    before = model.content()[0][missing].clone()
    assert spoil_missing_rows(model.projector.present["image"]) == len(missing)
    model.train().eval()  # clear the eval cache
    after = model.content()[0][missing]
    assert torch.allclose(before, after)


def test_item_without_any_modality_gets_finite_scores():
    world = make_world(missing=0.5, seed=3)
    model = build_model("mtl-fusion", world.data(), {})
    model.eval()
    assert torch.isfinite(model.score(torch.arange(world.n_users))).all()


def test_tasks_turn_off_with_zero_weight(world):
    model = build_model("mtl-fusion", world.data(), {"label_weight": 0, "align_weight": 0})
    assert model.task_names == ["rec"]
    weights = build_model("mtl-fusion", world.data(), {"label_weight": 0.3, "align_weight": 0.05})
    assert weights.task_weights() == pytest.approx({"rec": 1.0, "label:genres": 0.3, "align": 0.05})
    learned = build_model("mtl-fusion", world.data(), {"rec_weight": 0, "weighting": "uncertainty"})
    assert "rec" not in learned.task_names  # learned weights would turn it back on
    with pytest.raises(ModelError, match="no task to train"):
        build_model(
            "mtl-fusion", world.data(), {"rec_weight": 0, "label_weight": 0, "align_weight": 0}
        )


def test_genre_head_learns_the_labels(world):
    model = build_model("mtl-fusion", world.data(), {"label_weight": 1.0})
    train_epochs(model, world, 8, lr=5e-3)
    pred = (model.predict_labels("genres") > 0).numpy()
    accuracy = (pred == world.labels.astype(bool)).mean()
    majority = max(world.labels.mean(), 1 - world.labels.mean())
    assert accuracy > majority + 0.1


def test_alignment_makes_modalities_retrieve_each_other(world):
    def cross_modal_top1(model):
        with torch.no_grad():
            xs, masks = model.projector()
        both = masks[0] & masks[1]
        a = torch.nn.functional.normalize(xs[0][both], dim=1)
        b = torch.nn.functional.normalize(xs[1][both], dim=1)
        return float(((a @ b.T).argmax(1) == torch.arange(int(both.sum()))).float().mean())

    aligned = build_model("mtl-fusion", world.data(), {"align_weight": 1.0})
    plain = build_model("mtl-fusion", world.data(), {"align_weight": 0.0})
    train_epochs(aligned, world, 5, lr=5e-3)
    train_epochs(plain, world, 5, lr=5e-3)
    assert cross_modal_top1(aligned) > cross_modal_top1(plain) + 0.2


def test_uncertainty_weighting_downweights_the_noisier_task():
    torch.manual_seed(0)
    x = torch.randn(512, 8)
    w_true = torch.randn(8, 1)
    clean = x @ w_true + 0.1 * torch.randn(512, 1)
    noisy = x @ w_true + 2.0 * torch.randn(512, 1)
    shared = torch.nn.Linear(8, 1)
    weighting = UncertaintyWeighting(2)
    opt = torch.optim.Adam([*shared.parameters(), *weighting.parameters()], lr=0.05)
    for _ in range(400):
        opt.zero_grad()
        pred = shared(x)
        losses = torch.stack([(pred - clean).pow(2).mean(), (pred - noisy).pow(2).mean()])
        weighting(losses).backward()
        opt.step()
    w = weighting.weights()
    assert w[0] > 5 * w[1]  # the clean task dominates; the noisy one is discounted


def test_task_head_ignores_items_without_labels():
    labels = np.array([[1, 0], [0, 1], [np.nan, np.nan]], dtype=np.float32)
    head = TaskHead(4, labels)
    repr_ = torch.randn(3, 4, requires_grad=True)
    head.loss(repr_, torch.tensor([0, 1, 2])).backward()
    assert repr_.grad[2].abs().sum() == 0
    reg = TaskHead(4, np.array([1.0, 2.0, np.nan, 4.0]))
    assert reg.kind == "regression"
    assert torch.isfinite(reg.loss(torch.randn(4, 4), torch.arange(4)))


def test_info_nce_prefers_matching_pairs():
    a = torch.randn(16, 8)
    assert info_nce(a, a) < info_nce(a, torch.randn(16, 8))


def test_id_dropout_hides_id_vectors_only_while_training(world):
    model = build_model("mtl-fusion", world.data(), {"id_dropout": 1.0, "n_layers": 1})
    fused, _, _ = model.content()
    assert torch.allclose(model._ego_items(fused), fused)  # training: every id dropped
    model.eval()
    assert not torch.allclose(model._ego_items(fused), fused)
