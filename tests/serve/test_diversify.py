"""``diversify``: a user's list re-ranked by maximal marginal relevance for less alike items,
by co-rating or by a content view; the same answer from the run, its bundle, HTTP and the
CLI."""

from __future__ import annotations

import httpx
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from typer.testing import CliRunner

import fusionrec
from fusionrec.cli import app
from fusionrec.errors import ConfigError, ModelError
from fusionrec.evaluate.evaluator import list_diversity, unit_columns
from fusionrec.serve.recommender import load_bundle
from fusionrec.tasks.diversify import mmr_order, rating_similarity


def test_mmr_takes_the_best_item_then_trades_score_for_difference():
    # items 0 and 1 are near-copies; item 2 is unlike both and scored lowest
    scores = np.array([1.0, 0.95, 0.5])
    similarity = np.array([[1.0, 0.99, 0.0], [0.99, 1.0, 0.0], [0.0, 0.0, 1.0]])
    assert mmr_order(scores, similarity, 3, 0.0).tolist() == [0, 1, 2]
    # weight 0.5: item 1 is worth 0.5 * 0.9 - 0.5 * 0.99 < 0, item 2 0.5 * 0 - 0 = 0
    assert mmr_order(scores, similarity, 3, 0.5).tolist() == [0, 2, 1]
    # weight 0.1: relevance wins, 0.9 * 0.9 - 0.1 * 0.99 > 0
    assert mmr_order(scores, similarity, 2, 0.1).tolist() == [0, 1]
    assert mmr_order(scores, similarity, 5, 0.5).tolist() == [0, 2, 1]  # k beyond the pool


def test_rating_similarity_is_the_cosine_of_the_items_columns():
    train = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 0, 1]], dtype=float))
    sim = rating_similarity(train, np.array([1, 0, 2, 3]))
    assert sim[0, 1] == pytest.approx(2 / np.sqrt(2 * 3))  # items 1 and 0
    assert sim[1, 3] == pytest.approx(1 / np.sqrt(3))  # items 0 and 3
    assert np.all(sim[2] == 0) and np.all(sim[:, 2] == 0)  # item 2: nobody, like nothing


def test_diversified_lists_are_more_diverse_by_the_evaluators_measure(trained_run):
    rec = fusionrec.load(trained_run)
    users = rec.user_ids[:20]
    plain = rec.recommend(users, k=8)
    same = rec.recommend(users, k=8, diversify=0.0)
    pd.testing.assert_frame_equal(plain, same)
    mixed = rec.recommend(users, k=8, diversify=0.7)
    assert (mixed.groupby("user_id", sort=False)["item_id"].first() ==
            plain.groupby("user_id", sort=False)["item_id"].first()).all()  # fmt: skip
    unit = unit_columns(rec.train_matrix)

    def diversity(frame: pd.DataFrame) -> float:
        lists = np.stack([rec.item_rows(g["item_id"]) for _, g in frame.groupby("user_id")])
        total, n = list_diversity(unit, lists)
        return total / n

    assert diversity(mixed) > diversity(plain) + 0.02
    # each diversified item keeps the model's score, and comes from the user's unseen items
    for user, group in mixed.groupby("user_id"):
        np.testing.assert_allclose(rec.score(user, group["item_id"]), group["score"], rtol=1e-5)
    seen = set(plain["item_id"]) | set(mixed["item_id"])
    assert seen <= set(rec.item_ids)


def test_diversify_by_a_content_view_and_for_new_users(trained_run):
    rec = fusionrec.load(trained_run)
    assert "image" in rec.views()
    plain = rec.recommend("u3", k=6)
    by_image = rec.recommend("u3", k=6, diversify=0.8, diversify_by="image")
    assert by_image["item_id"].iloc[0] == plain["item_id"].iloc[0]
    unit = rec.unit_vectors("image")

    def mean_cosine(frame: pd.DataFrame) -> float:
        v = unit[rec.item_rows(frame["item_id"])]
        sim = v @ v.T
        return float((sim.sum() - np.trace(sim)) / (len(v) * (len(v) - 1)))

    assert mean_cosine(by_image) < mean_cosine(plain)
    liked = rec.recommend_for_items(["i1", "i2"], k=6, diversify=0.8)
    assert len(liked) == 6 and not {"i1", "i2"} & set(liked["item_id"])
    assert not liked.equals(rec.recommend_for_items(["i1", "i2"], k=6))
    with pytest.raises(ModelError, match="view 'audio' is not available.*behaviour"):
        rec.recommend("u3", diversify=0.5, diversify_by="audio")
    with pytest.raises(ConfigError, match="between 0 .* and 1, got 1.2"):
        rec.recommend("u3", diversify=1.2)


def test_a_bundle_diversifies_as_its_run_over_http_too(bundle, server):
    served = load_bundle(bundle)
    fitted = fusionrec.load(served.manifest["run_dir"])
    for by in ("ratings", "text"):
        expected = fitted.recommend("u5", k=7, diversify=0.6, diversify_by=by)
        got = served.recommend("u5", k=7, diversify=0.6, diversify_by=by)
        assert got["item_id"].tolist() == expected["item_id"].tolist(), by
        answer = httpx.get(
            f"{server}/users/u5/recommendations",
            params={"k": 7, "diversify": 0.6, "diversify_by": by},
        )
        assert answer.status_code == 200, answer.text
        assert [i["item_id"] for i in answer.json()["items"]] == expected["item_id"].tolist()
    assert expected["item_id"].tolist() != fitted.recommend("u5", k=7)["item_id"].tolist()
    new_user = httpx.post(
        f"{server}/recommendations",
        json={"liked_item_ids": ["i1", "i2"], "k": 5, "diversify": 0.8},
    )
    assert [i["item_id"] for i in new_user.json()["items"]] == served.recommend_for_items(
        ["i1", "i2"], k=5, diversify=0.8
    )["item_id"].tolist()
    bad = httpx.get(f"{server}/users/u5/recommendations", params={"diversify": 1.5})
    assert bad.status_code == 422
    unknown = httpx.get(
        f"{server}/users/u5/recommendations", params={"diversify": 0.5, "diversify_by": "smell"}
    )
    assert unknown.status_code == 400 and "available views" in unknown.json()["detail"]


def test_cli_recommend_diversifies(trained_run, tmp_path):
    out = tmp_path / "top.csv"
    args = ["recommend", str(trained_run), "--user", "u2", "-k", "6", "--diversify", "0.7"]
    result = CliRunner().invoke(app, [*args, "-o", str(out)])
    assert result.exit_code == 0, result.output
    expected = fusionrec.load(trained_run).recommend("u2", k=6, diversify=0.7)
    assert pd.read_csv(out)["item_id"].tolist() == expected["item_id"].tolist()
    refused = CliRunner().invoke(app, [*args[:-1], "3"])
    assert refused.exit_code != 0 and "between 0" in str(refused.exception)


def test_the_benchmark_scores_exactly_the_lists_recommend_returns(trained_run):
    """bench_diversify turns each user's list into scores the evaluator ranks: with weight 0
    they score as the model itself does, and a diversified list is ranked as returned."""
    import sys
    from pathlib import Path

    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from bench_diversify import K, ranked_scores
    from fusionrec.data.split import TEST, TRAIN, VALID
    from fusionrec.evaluate import Evaluator

    rec = fusionrec.load(trained_run)
    ds, split = rec.dataset, rec.split
    train, valid, test = (split.matrix(ds, p) for p in (TRAIN, VALID, TEST))
    seen = (train + valid).tocsr()
    evaluator = Evaluator(test, seen, ks=[5, 10])
    plain = ranked_scores(rec, seen, 0.0, "ratings")
    with torch.no_grad():
        own = evaluator.evaluate(rec.model.score)
    assert evaluator.evaluate(lambda users: plain[users]) == pytest.approx(own)
    mixed = ranked_scores(rec, seen, 0.6, "text")
    top = torch.topk(mixed[2], K).indices.numpy()
    listed = rec.recommend(rec.user_ids[2], k=K, diversify=0.6, diversify_by="text")
    n = len(listed)
    assert rec.item_ids[top[:n]].tolist() == listed["item_id"].tolist()


def test_an_item_without_the_content_is_compared_by_its_ratings():
    """Items without a poster would be like nothing by image, and a diversified list would
    prefer them all; their pairs take the co-rating similarity instead."""
    from fusionrec.data import build_dataset
    from fusionrec.data.features import ItemFeatures, ModalityFeatures
    from fusionrec.models import build_model
    from fusionrec.models.base import TrainData
    from fusionrec.tasks.recommender import FittedRecommender

    rng = np.random.default_rng(0)
    users, items = np.nonzero(rng.random((30, 12)) < 0.4)
    dataset = build_dataset("toy", pd.DataFrame({"user_id": users, "item_id": items}))
    present = np.ones(dataset.n_items, bool)
    present[[2, 5]] = False
    image = rng.normal(size=(dataset.n_items, 4)).astype(np.float32) * present[:, None]
    feats = ItemFeatures(dataset.n_items, {"image": ModalityFeatures("image", image, present)})
    data = TrainData(dataset.n_users, dataset.n_items, dataset.matrix(), feats)
    rec = FittedRecommender(build_model("lightgcn", data), data, dataset)
    rows = np.arange(dataset.n_items)
    by_image = rec.item_similarity(rows, "image")
    by_ratings = rec.item_similarity(rows, "ratings")
    unit = image / np.linalg.norm(image, axis=1, keepdims=True).clip(min=1e-12)
    both = present[:, None] & present[None, :]
    np.testing.assert_allclose(by_image[both], (unit @ unit.T)[both], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(by_image[~both], by_ratings[~both], rtol=1e-6)
    assert by_ratings[~both].max() > 0.1  # a zero fallback would not pass
