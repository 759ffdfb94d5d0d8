"""VBPR: contract, missing modalities, and cold items ranked from content."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from missing_rows import spoil_missing_rows
from synthetic_mm import (
    Synthetic,
    check_scores,
    loss_trajectory,
    sample_batch,
    text_only,
    train_quick,
)

from fusionrec.errors import ModelError
from fusionrec.models.base import TrainData, bpr_loss, build_model, l2_reg
from fusionrec.models.vbpr import VBPR, VBPRParams

pytestmark = pytest.mark.usefixtures("one_thread")


def make(data: TrainData, **params) -> VBPR:
    torch.manual_seed(0)
    return VBPR(data, VBPRParams(**params))


@pytest.mark.parametrize("fusion", ["concat", "sum", "gated"])
def test_scores_and_loss(synthetic: Synthetic, fusion: str) -> None:
    model = make(synthetic.data, fusion=fusion)
    check_scores(model, synthetic.data.n_users, synthetic.data.n_items)
    losses = loss_trajectory(model, sample_batch(synthetic.data))
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.7 * losses[0]


def test_multiple_negatives_and_single_modality(synthetic: Synthetic) -> None:
    model = make(text_only(synthetic), projector_hidden=32)
    losses = loss_trajectory(model, sample_batch(synthetic.data, n_neg=4), steps=10)
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    check_scores(model, synthetic.data.n_users, synthetic.data.n_items)


def reference_loss(model: VBPR, batch: dict) -> torch.Tensor:
    """The paper's BPR objective from the whole catalogue's content vectors, indexed."""
    content = model.content()  # training mode: every item projected, nothing cached
    gamma = model.item_id.weight * model.warm
    bias = (model.item_bias.weight * model.warm).squeeze(1)
    users = batch["users"]

    def scores(items: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        c, g = model.drop(content[items]), gamma[items]
        gu, tu = model.user_id(users), model.user_content(users)
        if items.dim() == 2:
            gu, tu = gu.unsqueeze(1), tu.unsqueeze(1)
        s = (gu * g).sum(-1) + (tu * c).sum(-1) + model.content_bias(c).squeeze(-1) + bias[items]
        return s, [g.reshape(-1, g.shape[-1]), c.reshape(-1, c.shape[-1])]

    pos, pos_reg = scores(batch["pos_items"])
    neg, neg_reg = scores(batch["neg_items"])
    user_reg = torch.cat([model.user_id(users), model.user_content(users)], dim=1)
    reg = l2_reg(user_reg) + l2_reg(*pos_reg) + l2_reg(*neg_reg)
    return bpr_loss(pos, neg) + model.params.reg_weight * reg


@pytest.mark.parametrize(("fusion", "n_neg"), [("concat", 1), ("gated", 3), ("sum", 1)])
def test_loss_from_the_batch_items_equals_the_whole_catalogue_loss(
    synthetic: Synthetic, fusion: str, n_neg: int
) -> None:
    """The loss projects only the batch's distinct items: the same loss and gradients as
    projecting every item, with dropout drawing the same masks."""
    model = make(synthetic.data, fusion=fusion, projector_hidden=16, dropout=0.3).train()
    batch = sample_batch(synthetic.data, n_neg=n_neg)
    grads = []
    for loss_of in (VBPR.calculate_loss, reference_loss):
        model.zero_grad()
        torch.manual_seed(7)
        loss = loss_of(model, batch)
        loss.backward()
        grads.append((loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}))
    (loss, got), (ref_loss, want) = grads
    torch.testing.assert_close(loss, ref_loss, rtol=1e-6, atol=1e-7)
    assert got.keys() == want.keys()
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=1e-5, atol=1e-7, msg=name)


def test_registered_and_needs_features(synthetic: Synthetic) -> None:
    model = build_model("vbpr", synthetic.data, {"embedding_size": 8})
    assert isinstance(model, VBPR)
    bare = TrainData(synthetic.data.n_users, synthetic.data.n_items, synthetic.data.train_matrix)
    with pytest.raises(ModelError, match="needs item features"):
        VBPR(bare, VBPRParams())


def test_missing_modality_does_not_leak(synthetic: Synthetic) -> None:
    """An item without its image gets the same content vector whatever its image row holds."""
    model = make(synthetic.data).eval()
    missing = np.flatnonzero(~synthetic.data.features["image"].mask)[0]
    before = model.content()[missing].clone()
    assert spoil_missing_rows(model.projector.present["image"]) > 0
    model.train().eval()  # clear the eval cache
    torch.testing.assert_close(model.content()[missing], before)


def test_items_without_any_content_score_finite(synthetic: Synthetic) -> None:
    d = synthetic.data
    feats = d.features.select(["image"])
    model = make(TrainData(d.n_users, d.n_items, d.train_matrix, feats))
    missing = np.flatnonzero(~feats["image"].mask)
    model.eval()
    assert torch.all(model.content()[missing] == 0)
    assert torch.isfinite(model.score(torch.arange(3))).all()


def test_cold_items_ignore_id_factors(synthetic: Synthetic) -> None:
    """With cold_content_only, a cold item's score depends on its content only."""
    model = make(synthetic.data).eval()
    cold = torch.from_numpy(synthetic.cold_items)
    users = torch.arange(5)
    before = model.score(users, cold)
    with torch.no_grad():
        model.item_id.weight[cold] += 5.0
    torch.testing.assert_close(model.score(users, cold), before)


def test_cold_item_ranking_beats_random(synthetic: Synthetic) -> None:
    """Trained on warm items only, VBPR must rank never-seen items by content: far above the
    random-ranking recall (popularity is uninformative: every cold item has 0 interactions)."""
    model = make(synthetic.data)
    train_quick(model, synthetic, epochs=15)
    evaluator = synthetic.cold_evaluator()
    metrics = evaluator.evaluate(model.eval().score)
    rng = np.random.default_rng(0)
    random = evaluator.evaluate(lambda u: torch.from_numpy(rng.random((len(u), 120))).float())
    assert metrics["recall@5"] > random["recall@5"] + 0.2, (metrics, random)
    assert metrics["ndcg@10"] > 0.5
