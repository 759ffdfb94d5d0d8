"""cold-transfer: a trained embedding model scores cold items through warm content neighbours."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from synthetic_mm import check_scores, loss_trajectory, sample_batch, text_only

from fusionrec.config import TrainConfig, validate_config
from fusionrec.errors import ConfigError
from fusionrec.evaluate.cold_start import expected_random_metrics
from fusionrec.models.base import build_model
from fusionrec.models.cold_transfer import content_neighbours
from fusionrec.train.trainer import train_model

pytestmark = pytest.mark.usefixtures("one_thread")


def test_neighbours_are_the_most_similar_pool_items_with_normalised_weights():
    rng = np.random.default_rng(0)
    content = rng.normal(size=(30, 5)).astype(np.float32)
    content /= np.linalg.norm(content, axis=1, keepdims=True)
    queries, pool = np.arange(5), np.arange(5, 30)
    idx, w = content_neighbours(content, queries, pool, k=4, block=2)  # several blocks
    sims = content[queries] @ content[pool].T
    for q in range(len(queries)):
        expected = pool[np.argsort(-sims[q])[:4]]
        assert set(idx[q]) == set(expected)
    assert np.allclose(w.sum(axis=1), 1.0) and (w >= 0).all()
    assert np.isin(idx, pool).all()  # never a query (cold) item itself


def test_warm_items_keep_the_base_vectors_and_cold_items_borrow(synthetic):
    model = build_model("cold-transfer", synthetic.data, {"base": "mf-bpr", "k": 5})
    check_scores(model, synthetic.data.n_users, synthetic.data.n_items)
    model.eval()
    base_items = model.base.item_embeddings().detach()
    items = model.item_embeddings()
    warm = np.setdiff1d(np.arange(synthetic.data.n_items), synthetic.cold_items)
    assert torch.equal(items[warm], base_items[warm])
    c = int(synthetic.cold_items[0])
    row = int(np.flatnonzero(model.cold.numpy() == c)[0])
    expected = (model.weights[row].unsqueeze(1) * base_items[model.neighbours[row]]).sum(0)
    torch.testing.assert_close(items[c], expected)
    # the cold item's own (untrained) id vector plays no part
    with torch.no_grad():
        model.base.item_emb.weight[c] += 100.0
    model.train()
    model.eval()
    torch.testing.assert_close(model.item_embeddings()[c], expected)


def test_cold_items_without_content_get_the_mean_warm_vector(synthetic, caplog):
    data = text_only(synthetic)
    c = int(synthetic.cold_items[0])
    data.features["text"].mask[c] = False  # a cold item with no text at all
    try:
        with caplog.at_level("WARNING"):
            model = build_model("cold-transfer", data, {"base": "mf-bpr"})
        assert "1 cold items have none of the modalities" in caplog.text
        model.eval()
        warm = np.flatnonzero(data.item_popularity > 0)
        mean = model.base.item_embeddings().detach()[warm].mean(0)
        torch.testing.assert_close(model.item_embeddings()[c], mean)
    finally:
        data.features["text"].mask[c] = True


def test_training_is_the_base_models(synthetic):
    model = build_model("cold-transfer", synthetic.data, {"base": "lightgcn"})
    losses = loss_trajectory(model, sample_batch(synthetic.data), steps=20)
    assert losses[-1] < losses[0]


def test_cold_items_rank_above_random_after_training(synthetic):
    data = synthetic.data
    evaluator = synthetic.cold_evaluator(ks=(5, 20))
    model = build_model("cold-transfer", data, {"base": "lightgcn", "k": 10})
    config = TrainConfig(epochs=15, lr=0.02, batch_size=256, eval_every=5, seed=0)
    train_model(model, data, evaluator, config, progress=False)
    model.eval()
    got = evaluator.evaluate(model.score)["recall@5"]
    assert got > 2.0 * expected_random_metrics(evaluator)["recall@5"]
    # the base alone ranks cold items by their random id vectors
    assert got > 1.5 * evaluator.evaluate(model.base.score)["recall@5"]


def test_a_base_without_dot_product_scores_is_refused(synthetic):
    with pytest.raises(ConfigError, match="dot product"):
        build_model("cold-transfer", synthetic.data, {"base": "itemknn"})
    with pytest.raises(ConfigError, match="itself"):
        build_model("cold-transfer", synthetic.data, {"base": "cold-transfer"})
    with pytest.raises(ConfigError, match="unknown model"):
        build_model("cold-transfer", synthetic.data, {"base": "nope"})


def test_content_weight_adds_the_standardised_content_score(synthetic):
    pure = build_model("cold-transfer", synthetic.data, {"base": "mf-bpr"})
    mixed = build_model("cold-transfer", synthetic.data, {"base": "mf-bpr", "content_weight": 0.5})
    mixed.load_state_dict(pure.state_dict(), strict=False)
    check_scores(mixed, synthetic.data.n_users, synthetic.data.n_items)
    pure.eval()
    mixed.eval()
    users = torch.arange(6)

    def z(s: torch.Tensor) -> torch.Tensor:
        return (s - s.mean(1, keepdim=True)) / s.std(1, keepdim=True)

    content = build_model("content-knn", synthetic.data, {}).eval().score(users)
    expected = z(pure.score(users)) + 0.5 * z(content)
    torch.testing.assert_close(mixed.score(users), expected, atol=1e-5, rtol=1e-5)


def test_base_and_base_params_are_checked_when_the_config_is_read():
    """Before any data is read, with the key the user wrote (``base_params.<key>``)."""

    def check(params: dict) -> None:
        model = {"name": "cold-transfer", "params": params}
        validate_config({"dataset": {"name": "toy"}, "model": model}, source="c.yaml")

    with pytest.raises(ConfigError, match=r"model\.params\.base_params\.n_layers.*'mf-bpr'"):
        check({"base": "mf-bpr", "base_params": {"n_layers": 3}})
    with pytest.raises(ConfigError, match=r"model\.params\.base: unknown model 'nope'"):
        check({"base": "nope"})
    check({"base": "lightgcn", "base_params": {"n_layers": 3, "reg_weight": 1e-3}})
    # scores that are not the product of the vectors cold items would borrow: refused by
    # kind, not by a numeric check that VBPR's zero-initialised item biases would pass
    with pytest.raises(ConfigError, match="'vbpr' adds item terms its vectors do not carry"):
        check({"base": "vbpr"})
    with pytest.raises(ConfigError, match="'sasrec' reads ordered histories"):
        check({"base": "sasrec"})
