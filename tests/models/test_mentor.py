"""MENTOR: contract, ranking quality on content-driven data, every self-supervised term
reaching the parameters it should, and missing modalities."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from missing_rows import spoil_missing_rows
from mm_fixtures import make_world, train_epochs
from synthetic_mm import (
    Synthetic,
    check_scores,
    loss_trajectory,
    sample_batch,
    text_only,
)

from fusionrec.models.base import TrainData, build_model
from fusionrec.models.mentor import MENTOR, MENTORParams

pytestmark = pytest.mark.usefixtures("one_thread")


def make(data: TrainData, **params) -> MENTOR:
    torch.manual_seed(0)
    return MENTOR(data, MENTORParams(**params))


def test_scores_and_loss_decreases(synthetic: Synthetic) -> None:
    model = make(synthetic.data)
    check_scores(model, synthetic.data.n_users, synthetic.data.n_items)
    losses = loss_trajectory(model, sample_batch(synthetic.data), steps=20)
    assert all(np.isfinite(losses)) and losses[-1] < 0.7 * losses[0]
    single = make(text_only(synthetic))  # one modality, several negatives per positive
    multi = loss_trajectory(single, sample_batch(synthetic.data, n_neg=3), steps=10)
    assert all(np.isfinite(multi)) and multi[-1] < multi[0]
    assert isinstance(build_model("mentor", synthetic.data, {"knn_k": 5}), MENTOR)
    assert model.mm_adj.nnz <= 2 * 10 * synthetic.data.n_items  # <= k edges per modality


def test_training_beats_popularity_and_the_untrained_content_graph() -> None:
    """Preference follows content: MENTOR must clearly beat popularity and, since its
    untrained content GCN already ranks well, training must add to it."""
    world = make_world(seed=3)
    evaluator = world.evaluator()
    pop = torch.from_numpy(world.data().item_popularity).float()
    popular = evaluator.evaluate(lambda u: pop.expand(len(u), -1))["recall@20"]
    model = make(world.data())
    untrained = evaluator.evaluate(model.eval().score)["recall@20"]
    history = train_epochs(model, world, 8, lr=1e-2)
    assert history[-1] < history[0]
    recall = evaluator.evaluate(model.eval().score)["recall@20"]
    assert recall > 2 * popular and recall > untrained + 0.1, (recall, untrained, popular)


# each term and the parameters it must reach (the id view is trained only by alignment;
# the feature-masking MLP only by feature masking)
REACHES = {
    "bpr": ["projector.proj.text.0.weight", "prefs.image", "user_weight"],
    "reg": ["prefs.text", "user_weight"],
    "align": ["item_id", "id_mlp.0.weight", "prefs.id", "projector.proj.image.0.weight"],
    "mask_f": ["feature_mlp.weight", "projector.proj.text.0.weight", "prefs.text"],
    "mask_g": ["projector.proj.text.0.weight", "prefs.image", "user_weight"],
}


@pytest.mark.parametrize("term", sorted(REACHES))
def test_each_self_supervised_term_is_nonzero_and_reaches_its_parameters(
    synthetic: Synthetic, term: str
) -> None:
    model = make(synthetic.data)
    model.train()
    value = model.loss_terms(sample_batch(synthetic.data, size=64))[term]
    assert torch.isfinite(value) and float(value.detach()) > 1e-4
    value.backward()
    reached = {
        n: p.grad is not None and bool(p.grad.abs().sum() > 0) for n, p in model.named_parameters()
    }
    for name in REACHES[term]:
        assert reached[name], (term, name)
    if term != "mask_f":
        assert not reached["feature_mlp.weight"]  # only feature masking trains the MLP
    if term != "align":
        assert not reached["item_id"]  # the id view is not scored


def test_weights_switch_terms_on_and_off(synthetic: Synthetic) -> None:
    batch = sample_batch(synthetic.data, size=64)
    off = make(synthetic.data, align_weight=0, mask_weight_f=0, mask_weight_g=0, reg_weight=0)
    assert "mask_g" not in off.loss_terms(batch)
    with torch.no_grad():
        bpr_only = float(off.calculate_loss(batch))
        assert bpr_only == pytest.approx(float(off.loss_terms(batch)["bpr"]), rel=1e-5)
        assert float(make(synthetic.data).calculate_loss(batch)) > bpr_only + 0.1


def test_alignment_loss_matches_moments() -> None:
    a = (torch.zeros(2, 3), torch.zeros(4, 3))
    b = (torch.ones(2, 3), torch.ones(4, 3))
    c = (torch.tensor([[0.0, 2.0, 0.0], [2.0, 0.0, 2.0]]), torch.zeros(0, 3))
    # pairs: a-b |0-1|+0, a-c |0-1|+|0-1.2|, b-c 0+1.2
    loss = MENTOR.alignment_loss({"a": a, "b": b, "c": c})
    assert float(loss) == pytest.approx(1 + 2.2 + 1.2, rel=1e-5)


def test_missing_modality_features_are_never_read(synthetic: Synthetic) -> None:
    model = make(synthetic.data)
    model.eval()
    before = model.score(torch.arange(10)).clone()
    missing = torch.from_numpy(np.flatnonzero(~synthetic.data.features["image"].mask))
    assert len(missing) > 0
    assert spoil_missing_rows(model.projector.present["image"], scale=50.0) == len(missing)
    model.train()
    model.eval()
    torch.testing.assert_close(model.score(torch.arange(10)), before)
    # the vector such an item starts from is zero; it is represented through its neighbours
    h = model._item_features("image")
    assert torch.all(h[missing] == 0) and torch.isfinite(model.item_embeddings()).all()
