"""adv-fusion: contract, masks, the adversarial alignment game and missing-modality fill-in."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mm_fixtures import make_world, train_epochs

from fusionrec.models.adversarial import completion_quality, grad_reverse, hide_modality
from fusionrec.models.base import build_model

# tiny models: one thread is much faster on a busy shared machine (conftest fixture)
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def world():
    return make_world(seed=2)


def test_contract_shapes_and_finite_decreasing_loss(world):
    model = build_model("adv-fusion", world.data(), {"n_layers": 1})
    history = train_epochs(model, world, 4, lr=3e-3)
    assert all(np.isfinite(history)) and history[-1] < history[0]
    scores = model.score(torch.arange(4))
    assert scores.shape == (4, world.n_items) and torch.isfinite(scores).all()
    assert model.score(torch.arange(4), torch.tensor([1, 2])).shape == (4, 2)


def test_gradient_reversal_flips_the_gradient():
    x = torch.ones(3, requires_grad=True)
    grad_reverse(x, 0.5).sum().backward()
    assert torch.allclose(x.grad, torch.full((3,), -0.5))


def test_completion_fills_only_missing_modalities(world):
    model = build_model("adv-fusion", world.data(), {"complete_missing": True})
    model.eval()
    zs, masks = model.shared()
    cz, cm = model.completed()
    for z, m, c, cmask in zip(zs, masks, cz, cm, strict=True):
        assert torch.equal(c[m], z[m])
        assert bool(cmask[~m].all()) or bool((~masks[0] & ~masks[1]).any())
    off = build_model("adv-fusion", world.data(), {})  # the default leaves gaps empty
    assert torch.equal(off.completed()[1][0], masks[0])


def test_discriminator_accuracy_drops_toward_chance_when_encoders_fight_it(world):
    def accuracy(lam: float) -> float:
        torch.manual_seed(0)
        model = build_model(
            "adv-fusion", world.data(), {"grl_lambda": lam, "gen_weight": 0.0, "align_weight": 0.0}
        )
        train_epochs(model, world, 6, lr=3e-3)
        return model.discriminator_accuracy()

    untouched, adversarial = accuracy(0.0), accuracy(1.0)
    assert untouched > 0.8  # the modalities are trivially separable when nobody hides them
    assert adversarial < untouched - 0.2


def test_the_modality_probe_is_decided_by_its_seed(world):
    from fusionrec.models.adversarial import probe_modality_accuracy

    torch.manual_seed(0)
    model = build_model("adv-fusion", world.data(), {})
    train_epochs(model, world, 2)
    runs = []
    for state in range(100, 104):
        torch.manual_seed(state)  # whatever the global generator holds
        runs.append(probe_modality_accuracy(model, seed=0, steps=5))
    assert len(set(runs)) == 1


@pytest.mark.slow
def test_generator_fill_in_beats_the_mean_baseline(world):
    rng = np.random.default_rng(0)
    both = np.flatnonzero(world.features["text"].mask & world.features["image"].mask)
    held = rng.choice(both, size=len(both) // 5, replace=False)
    hidden = hide_modality(world.features, held, "text")
    assert not hidden["text"].mask[held].any() and world.features["text"].mask[held].all()
    data = world.data()
    data.features = hidden
    model = build_model("adv-fusion", data, {"gen_weight": 1.0})
    train_epochs(model, world, 10, lr=3e-3)
    report = completion_quality(model, world.features, held, "text")
    assert report.cosine_generated > report.cosine_mean + 0.1
    assert report.rank_generated < 0.5 * report.rank_mean
