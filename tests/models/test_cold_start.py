"""Cold-start protocol: the exact random baseline, content-knn, and content-aware models
ranking items never seen in training."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from mm_fixtures import make_world, train_epochs

import fusionrec.models.content_knn  # noqa: F401
import fusionrec.models.multitask  # noqa: F401
from fusionrec.evaluate.cold_start import (
    ColdStartProtocol,
    expected_random_metrics,
)
from fusionrec.evaluate.evaluator import Evaluator
from fusionrec.models.base import build_model
from fusionrec.train.cold_start import cold_start_protocol

# tiny models: one thread is much faster on a busy shared machine (conftest fixture)
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def cold_world():
    return make_world(n_users=200, n_items=500, cold_fraction=0.3, per_user=25, seed=4)


def _protocol(world) -> ColdStartProtocol:
    """Split the world's cold items in two: first half valid, second half test."""
    test = world.test.tocoo()
    valid_items = world.cold_items[: len(world.cold_items) // 2]
    in_valid = np.isin(test.col, valid_items)
    shape = world.test.shape
    v = sp.csr_matrix((test.data[in_valid], (test.row[in_valid], test.col[in_valid])), shape)
    t = sp.csr_matrix((test.data[~in_valid], (test.row[~in_valid], test.col[~in_valid])), shape)
    return ColdStartProtocol.from_matrices(world.train, v, t, ks=(10, 20))


def test_protocol_ranks_only_cold_items(cold_world):
    proto = _protocol(cold_world)
    assert set(proto.valid_items) | set(proto.test_items) <= set(cold_world.cold_items)
    assert not np.intersect1d(proto.valid_items, proto.test_items).size
    train_deg = np.asarray(cold_world.train.sum(axis=0)).ravel()
    assert (train_deg[proto.test_items] == 0).all()

    # the same random taste for cold items; one model also ranks every warm item far above
    # them, the other far below: only test cold items are candidates, so nothing changes
    taste = torch.rand(
        cold_world.n_users, cold_world.n_items, generator=torch.Generator().manual_seed(0)
    )
    warm = torch.from_numpy(train_deg > 0)

    def warm_lover(users: torch.Tensor) -> torch.Tensor:
        return taste[users] + 10.0 * warm

    def warm_hater(users: torch.Tensor) -> torch.Tensor:
        return taste[users] - 10.0 * warm

    loved = proto.test.evaluate(warm_lover)
    assert loved == proto.test.evaluate(warm_hater)
    assert loved["users"] == len(np.unique(proto.test.target.nonzero()[0]))
    # a random taste over the test cold items alone scores what random ranking is expected to
    random = expected_random_metrics(proto.test)
    assert loved["recall@20"] == pytest.approx(random["recall@20"], rel=0.1)


def _simulated_random_metrics(evaluator: Evaluator, repeats: int) -> dict[str, float]:
    """The random baseline by simulation: mean metrics of ``repeats`` random score functions."""
    gen = torch.Generator().manual_seed(0)
    totals: dict[str, float] = {}
    for _ in range(repeats):
        scores = evaluator.evaluate(lambda u: torch.rand(len(u), evaluator.n_items, generator=gen))
        for key, val in scores.items():
            totals[key] = totals.get(key, 0.0) + val / repeats
    return totals


def test_expected_random_matches_simulation():
    rng = np.random.default_rng(0)
    target = sp.random(80, 60, density=0.1, random_state=1, format="csr")
    target.data[:] = 1
    exclude = sp.random(80, 60, density=0.1, random_state=2, format="csr")
    cands = np.sort(rng.choice(60, 30, replace=False))
    ev = Evaluator(target, exclude - exclude.multiply(target), ks=(5, 10), candidates=cands)
    exact = expected_random_metrics(ev)
    sampled = _simulated_random_metrics(ev, repeats=60)
    for key in ("recall@5", "ndcg@10", "hit@10", "mrr@10", "precision@5"):
        assert exact[key] == pytest.approx(sampled[key], abs=0.02), key


def test_content_knn_ranks_cold_items_above_random(cold_world):
    proto = _protocol(cold_world)
    knn = build_model("content-knn", cold_world.data(), {})
    knn.eval()
    got = proto.test.evaluate(knn.score)["recall@20"]
    assert got > 1.5 * expected_random_metrics(proto.test)["recall@20"]


def test_content_aware_model_beats_random_on_cold_items(cold_world):
    proto = _protocol(cold_world)
    model = build_model("mtl-fusion", cold_world.data(), {})
    train_epochs(model, cold_world, 6, lr=5e-3)
    got = proto.test.evaluate(model.score)["recall@20"]
    assert got > 1.5 * expected_random_metrics(proto.test)["recall@20"]


def test_id_only_information_is_not_used_for_cold_items(cold_world):
    """A cold item's score must come from content: its (untrained) id vector is ignored."""
    model = build_model("mtl-fusion", cold_world.data(), {})
    model.eval()
    before = model.score(torch.arange(5))[:, cold_world.cold_items].clone()
    with torch.no_grad():
        model.item_emb.weight[torch.from_numpy(cold_world.cold_items)] += 10.0
    model.train()
    model.eval()
    assert torch.allclose(before, model.score(torch.arange(5))[:, cold_world.cold_items])


@pytest.mark.slow
def test_content_knn_on_movielens_cold_items(movielens_mm):
    """Real data: text content alone ranks withheld movies well above random."""
    from fusionrec.data import make_split
    from fusionrec.encoders import build_item_features
    from fusionrec.models.base import TrainData

    ds = movielens_mm
    feats = build_item_features(ds, modalities=["text"], progress=False)
    split = make_split(ds, "cold-items", cold_fraction=0.2, seed=2026)
    proto = cold_start_protocol(ds, split, ks=(20,))
    knn = build_model("content-knn", TrainData(ds.n_users, ds.n_items, proto.train, feats), {})
    knn.eval()
    got = proto.test.evaluate(knn.score)["recall@20"]
    assert got > 2.0 * expected_random_metrics(proto.test)["recall@20"]


@pytest.mark.slow
def test_cold_transfer_on_movielens_cold_items(movielens_mm):
    """Real data: LightGCN plus text-neighbour transfer ranks withheld movies far above
    random, which LightGCN alone (random vectors for unseen items) cannot."""
    from fusionrec.config import TrainConfig
    from fusionrec.data import make_split
    from fusionrec.encoders import build_item_features
    from fusionrec.models.base import TrainData
    from fusionrec.train.trainer import evaluate_model, train_model

    ds = movielens_mm
    feats = build_item_features(ds, modalities=["text"], progress=False)
    split = make_split(ds, "cold-items", cold_fraction=0.2, seed=2026)
    proto = cold_start_protocol(ds, split, ks=(20,))
    data = TrainData(ds.n_users, ds.n_items, proto.train, feats)
    model = build_model("cold-transfer", data, {"base": "lightgcn"})
    config = TrainConfig(epochs=20, lr=5e-3, batch_size=2048, eval_every=5, seed=1)
    train_model(model, data, proto.valid, config, progress=False)
    random = expected_random_metrics(proto.test)["recall@20"]
    assert evaluate_model(model, proto.test)["recall@20"] > 2.5 * random
    assert evaluate_model(model.base, proto.test)["recall@20"] < 1.5 * random
