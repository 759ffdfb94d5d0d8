"""Item-item models (EASE, ItemKNN) have no vectors to export: their bundles carry W and the
history rows it multiplies, and answer exactly as the run does, over HTTP too."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pytest

import fusionrec
from fusionrec.config import read_saved_config
from fusionrec.errors import ModelError
from fusionrec.serve.bundle import export_bundle, read_manifest
from fusionrec.serve.recommender import load_bundle


@pytest.fixture(scope="module", params=["content-ease", "itemknn"])
def item_item_run(request, trained_run, tmp_path_factory) -> tuple[Path, Path]:
    """A run of the serving catalogue (content-ease: dense W with text and image views;
    itemknn: sparse W, no views) and its bundle."""
    folder = tmp_path_factory.mktemp(request.param)
    saved = read_saved_config(trained_run / "config.yaml")
    features = saved.features if request.param == "content-ease" else None
    fusionrec.fit(
        saved.dataset.model_dump(),
        model=request.param,
        features=features,
        overrides=["evaluate.ks=[5,10]"],
        run_dir=folder / "run",
    )
    bundle = export_bundle(folder / "run", folder / "bundle", sentiment=None, search=False)
    return folder / "run", bundle


def test_the_bundle_scores_with_w_not_vectors(item_item_run):
    run, bundle = item_item_run
    manifest = read_manifest(bundle)
    assert manifest["scoring"] == "item-item" and "scoring" not in manifest["index"]
    dense = manifest["model"] == "content-ease"
    assert (bundle / "scoring/item_item.npy").exists() == dense
    assert (bundle / "scoring/item_item.npz").exists() != dense
    assert not (bundle / "scoring/items.npy").exists()
    assert manifest["views"] == (["text", "image"] if dense else [])
    # a dense W is memory-mapped: several server workers share one copy of its pages
    assert isinstance(load_bundle(bundle).item_item_weights(), np.memmap) == dense


def test_an_item_item_bundle_answers_as_the_run(item_item_run):
    run, bundle = item_item_run
    served, fitted = load_bundle(bundle), fusionrec.load(run)
    for exclude_seen in (True, False):
        a = served.recommend(["u0", "u1", "u7"], k=8, exclude_seen=exclude_seen)
        b = fitted.recommend(["u0", "u1", "u7"], k=8, exclude_seen=exclude_seen)
        assert a["item_id"].tolist() == b["item_id"].tolist()
        np.testing.assert_allclose(a["score"], b["score"], rtol=1e-4, atol=1e-5)
    seen = set(served.item_ids[served.seen_matrix[0].indices])
    assert not seen & set(served.recommend("u0", k=40)["item_id"])
    ranking = fitted.recommend("u0", k=12)["item_id"].tolist()
    for rules in ({"exclude": ranking[:3]}, {"only": ranking[2:9]}):
        a, b = served.recommend("u0", k=4, **rules), fitted.recommend("u0", k=4, **rules)
        assert a["item_id"].tolist() == b["item_id"].tolist()
    a = served.recommend_for_items(["i1", "i2", "i2"], k=5)
    b = fitted.recommend_for_items(["i1", "i2", "i2"], k=5)
    assert a["item_id"].tolist() == b["item_id"].tolist()
    assert not {"i1", "i2"} & set(a["item_id"])
    np.testing.assert_allclose(a["score"], b["score"], rtol=1e-4, atol=1e-5)
    for view in served.views():  # content views, for similar items and "because"
        a, b = served.similar_items("i3", k=4, by=view), fitted.similar_items("i3", k=4, by=view)
        assert a["item_id"].tolist() == b["item_id"].tolist()
    for rec in (served, fitted):
        assert not rec.dot_product()
        with pytest.raises(ModelError, match="has no item embeddings"):
            rec.user_embeddings()
        with pytest.raises(ModelError, match="has no item embeddings"):
            rec.recommend_for_items(["i1"], method="least-squares")


def test_because_items_are_the_largest_terms_of_the_score(item_item_run):
    """An item-item score is a sum of W[j, i] over the history: the "because" items are the
    history items with the largest positive terms, in the bundle as in the run."""
    run, bundle = item_item_run
    served, fitted = load_bundle(bundle), fusionrec.load(run)
    w = fitted.item_item_weights()
    w = w.toarray() if hasattr(w, "toarray") else np.asarray(w)
    pool = fitted.train_matrix[0].indices
    top = fitted.recommend("u0", k=3)
    items = fitted.item_rows(top["item_id"])
    rows, terms = fitted.because(pool, items, n=2)
    served_rows, served_terms = served.because(pool, items, n=2)
    for i, item in enumerate(items):
        column = w[pool, item]
        assert len(rows[i]) == min(2, int((column > 0).sum())) > 0
        np.testing.assert_allclose(terms[i], np.sort(column[column > 0])[::-1][:2], rtol=1e-5)
        np.testing.assert_allclose(terms[i], w[rows[i], item], rtol=1e-5)
        assert served_rows[i].tolist() == rows[i].tolist()
        np.testing.assert_allclose(served_terms[i], terms[i], rtol=1e-5)
    # the score is the sum of every term: with n = all of the history, nothing is left out
    _, all_terms = fitted.because(pool, items[:1], n=len(pool))
    positive = w[pool, items[0]][w[pool, items[0]] > 0].sum()
    np.testing.assert_allclose(all_terms[0].sum(), positive, rtol=1e-5)
    why = fitted.explain("u0", top["item_id"].iloc[0], n=2)
    assert why.view == "item-item" and "weight" in why.because
    assert why.because["item_id"].tolist() == fitted.item_ids[rows[0]].tolist()


def test_a_served_item_item_bundle_recommends_over_http(item_item_run, serve):
    run, bundle = item_item_run
    fitted = fusionrec.load(run)
    with serve(bundle) as url:
        known = httpx.get(f"{url}/users/u3/recommendations", params={"k": 5}).json()
        new = httpx.post(f"{url}/recommendations", json={"liked_item_ids": ["i4"], "k": 5})
        metadata = httpx.get(f"{url}/metadata").json()
    assert [i["item_id"] for i in known["items"]] == fitted.recommend("u3", k=5)["item_id"].tolist()
    assert all(i["because"] for i in known["items"])  # each raised by some history item
    expected = fitted.recommend_for_items(["i4"], k=5)["item_id"].tolist()
    assert [i["item_id"] for i in new.json()["items"]] == expected
    assert metadata["model"] == read_manifest(bundle)["model"]


def test_a_format_1_bundle_still_scores_by_dot_product(bundle, tmp_path):
    """Bundles written before item-item scoring said nothing of it: they are dot bundles."""
    import shutil

    copy = shutil.copytree(bundle, tmp_path / "old")
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["format"] = 1
    del manifest["scoring"]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    old, new = load_bundle(copy), load_bundle(bundle)
    assert old.dot_product()
    a, b = old.recommend("u0", k=5), new.recommend("u0", k=5)
    assert a["item_id"].tolist() == b["item_id"].tolist()
