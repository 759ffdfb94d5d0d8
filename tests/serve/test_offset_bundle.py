"""VBPR scores user . item plus a term per item (its bias): its bundle carries that term as
one more coordinate of the indexed items and answers exactly as the run does, over HTTP too."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

import fusionrec
from fusionrec.config import read_saved_config
from fusionrec.errors import DataError
from fusionrec.serve import bundle as bundle_module
from fusionrec.serve.bundle import export_bundle, read_manifest
from fusionrec.serve.recommender import load_bundle


@pytest.fixture(scope="module")
def vbpr_run(trained_run, tmp_path_factory) -> tuple[Path, Path]:
    """VBPR on the serving catalogue (text and image), trained long enough that its item
    biases differ, and its bundle."""
    folder = tmp_path_factory.mktemp("vbpr")
    saved = read_saved_config(trained_run / "config.yaml")
    fusionrec.fit(
        saved.dataset.model_dump(),
        model="vbpr",
        features=saved.features,
        train={"epochs": 15, "lr": 0.03, "batch_size": 128, "patience": 15, "threads": 1},
        overrides=["evaluate.ks=[5,10]"],
        run_dir=folder / "run",
        embedding_size=16,
    )
    bundle = export_bundle(folder / "run", folder / "bundle", sentiment=None, search=False)
    return folder / "run", bundle


def test_the_bundle_holds_the_offsets_and_says_so(vbpr_run, bundle):
    run, offset_bundle = vbpr_run
    manifest = read_manifest(offset_bundle)
    assert manifest["scoring"] == "dot+offset" and manifest["format"] == 3
    assert "scoring" in manifest["index"]
    fitted = fusionrec.load(run)
    offsets = np.load(offset_bundle / "scoring/offsets.npy")
    np.testing.assert_allclose(offsets, fitted.item_offsets(), rtol=1e-6)
    assert np.ptp(offsets) > 1e-3  # trained biases: rankings depend on them
    assert not fitted.dot_product() and fitted.item_offsets() is not None
    # every other bundle keeps format 2, readable by a fusionrec that knows no offsets
    assert read_manifest(bundle)["format"] == 2 and load_bundle(bundle).item_offsets() is None


def test_a_reader_of_format_2_refuses_an_offset_bundle(vbpr_run, monkeypatch):
    """Served without its offsets the ranking would be wrong, silently: refused instead."""
    monkeypatch.setattr(bundle_module, "READABLE_FORMATS", (1, 2))
    with pytest.raises(DataError, match="bundle format 3; this fusionrec reads formats 1 and 2"):
        read_manifest(vbpr_run[1])


def test_an_offset_bundle_answers_as_the_run(vbpr_run):
    run, bundle = vbpr_run
    served, fitted = load_bundle(bundle), fusionrec.load(run)
    users = ["u0", "u1", "u7", "u12"]
    for exclude_seen in (True, False):
        a = served.recommend(users, k=8, exclude_seen=exclude_seen)
        b = fitted.recommend(users, k=8, exclude_seen=exclude_seen)
        assert a["item_id"].tolist() == b["item_id"].tolist()
        np.testing.assert_allclose(a["score"], b["score"], rtol=1e-4, atol=1e-5)
    ranking = fitted.recommend("u0", k=20)["item_id"].tolist()
    for rules in ({"exclude": ranking[:3]}, {"only": ranking[2:9]}):  # index and exact paths
        a, b = served.recommend("u0", k=4, **rules), fitted.recommend("u0", k=4, **rules)
        assert a["item_id"].tolist() == b["item_id"].tolist()
        np.testing.assert_allclose(a["score"], b["score"], rtol=1e-4, atol=1e-5)
    # without the offsets the served ranking would differ from the run's
    items, user_vectors = fitted.scoring_vectors()
    plain = np.argsort(-(user_vectors[: len(users) * 3] @ items.T), axis=1)[:, :8]
    exact = np.argsort(-(user_vectors[: len(users) * 3] @ items.T + fitted.item_offsets()), 1)
    assert (plain != exact[:, :8]).any()
    # pair scores carry the offsets too
    rng = np.random.default_rng(1)
    pair_users = fitted.user_ids[rng.integers(0, len(fitted.user_ids), 30)]
    pair_items = fitted.item_ids[rng.integers(0, len(fitted.item_ids), 30)]
    np.testing.assert_allclose(
        served.score(pair_users, pair_items), fitted.score(pair_users, pair_items), rtol=1e-4
    )
    # a new user is folded in the same way by both (item similarity: not a dot product)
    a = served.recommend_for_items(["i1", "i2"], k=5)
    b = fitted.recommend_for_items(["i1", "i2"], k=5)
    assert a["item_id"].tolist() == b["item_id"].tolist()
    np.testing.assert_allclose(a["score"], b["score"], rtol=1e-4, atol=1e-5)
    for view in served.views():
        a, b = served.similar_items("i3", k=4, by=view), fitted.similar_items("i3", k=4, by=view)
        assert a["item_id"].tolist() == b["item_id"].tolist(), view


def test_a_served_offset_bundle_recommends_over_http(vbpr_run, serve):
    run, bundle = vbpr_run
    fitted = fusionrec.load(run)
    with serve(bundle) as url:
        known = httpx.get(f"{url}/users/u3/recommendations", params={"k": 5}).json()
    expected = fitted.recommend("u3", k=5)
    assert [i["item_id"] for i in known["items"]] == expected["item_id"].tolist()
    np.testing.assert_allclose([i["score"] for i in known["items"]], expected["score"], rtol=1e-4)
