"""A run without images still exports catalogue search: by its text alone, in the text
encoder's own space, from Python and over HTTP, with ``by`` defaulting to text."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

import fusionrec
from fusionrec.config import read_saved_config
from fusionrec.encoders import make_encoder
from fusionrec.serve.bundle import export_bundle, read_manifest
from fusionrec.serve.recommender import load_bundle

QUERY = "a spaceship crew lost among distant stars"


@pytest.fixture(scope="module")
def text_only(trained_run, tmp_path_factory) -> tuple[Path, Path]:
    """VBPR on the serving catalogue's text alone (its posters left out), and its bundle."""
    folder = tmp_path_factory.mktemp("text-only")
    saved = read_saved_config(trained_run / "config.yaml")
    features = {**saved.features, "modalities": ["text"]}
    features.get("precomputed", {}).pop("image", None)
    fusionrec.fit(
        saved.dataset.model_dump(),
        model="vbpr",
        features=features,
        train={"epochs": 3, "threads": 1},
        overrides=["evaluate.ks=[5,10]"],
        run_dir=folder / "run",
    )
    return folder / "run", export_bundle(folder / "run", folder / "bundle", sentiment=None)


def test_the_bundle_searches_by_text(text_only):
    run, bundle = text_only
    manifest = read_manifest(bundle)
    assert manifest["search"] and manifest["search_ways"] == ["text"]
    served, fitted = load_bundle(bundle), fusionrec.load(run)
    hits = served.search(QUERY, k=40)  # by text: the bundle has no images to match
    assert hits["title"].str.startswith("Star").head(20).all()
    encoder = make_encoder(served.searcher().text_config)
    query, _ = encoder.encode([QUERY])
    texts = fitted.item_embeddings("text")[fitted.item_rows(hits["item_id"])]
    np.testing.assert_allclose(hits["score"], texts @ query[0], atol=1e-5)


def test_search_over_http_defaults_to_text(text_only, serve):
    _, bundle = text_only
    with serve(bundle) as url:
        found = httpx.get(f"{url}/search", params={"q": QUERY, "k": 3}).json()
        refused = httpx.get(f"{url}/search", params={"q": QUERY, "by": "image"})
    assert found["by"] == "text" and found["items"][0]["title"].startswith("Star")
    assert refused.status_code == 400 and "unknown by='image'" in refused.text
