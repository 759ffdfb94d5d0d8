"""Cross-modal catalogue search: alignment quality, masks, persistence, errors, CLIP, CLI.

Retrieval quality is checked on a synthetic catalogue whose text and image share a hidden
factor (so the right answer is known and held-out items must be found); the plumbing with the
real encoders (MiniLM queries, EfficientNet posters, missing posters) on a slice of
movielens-100k-mm.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from encoders.conftest import tiny_clip, tokenizer_dir, write_image  # noqa: F401
from fusionrec.cli import app
from fusionrec.data.dataset import Dataset
from fusionrec.data.features import ItemFeatures, ModalityFeatures
from fusionrec.encoders import build_item_features, make_encoder, parse_features_config
from fusionrec.encoders.config import SentenceTransformerText
from fusionrec.encoders.templates import default_template, render_texts
from fusionrec.errors import ConfigError, DataError, ModelError
from fusionrec.evaluate.retrieval import paired_ranks, random_retrieval_metrics, retrieval_metrics
from fusionrec.tasks.alignment import AlignConfig, train_alignment
from fusionrec.tasks.search import CatalogueSearch

FAST = AlignConfig(dim=16, epochs=40, lr=3e-3, patience=5, seed=0)
ML = Path(__file__).resolve().parents[3] / "shared" / "data" / "movielens-100k-mm"


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Small heads train fastest on one thread (and the suite shares two cores)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def catalogue(items: pd.DataFrame, name: str = "synthetic", images: bool = True) -> Dataset:
    return Dataset(
        name=name,
        interactions=pd.DataFrame({"user": [], "item": []}, dtype="int64"),
        items=items,
        text_fields=["title"],
        image_column="image_path" if images else None,
    )


@pytest.fixture(scope="module")
def synthetic():
    """240 items; text (384-d, as MiniLM), image (48-d) and a third view share a hidden factor;
    20 items have no image. Text rows carry MiniLM's encoder id, so queries can be embedded."""
    rng = np.random.default_rng(0)
    n = 240
    hidden = rng.normal(size=(n, 8))

    def view(dim: int, noise: float) -> np.ndarray:
        return (hidden @ rng.normal(size=(8, dim)) + noise * rng.normal(size=(n, dim))).astype(
            np.float32
        )

    image_mask = np.ones(n, bool)
    image_mask[rng.choice(n, 20, replace=False)] = False
    items = pd.DataFrame(
        {
            "item_id": [f"m{i:03d}" for i in range(n)],
            "title": [f"movie {i}" for i in range(n)],
            "image_path": [f"posters/{i}.jpg" if m else None for i, m in enumerate(image_mask)],
        }
    )
    text_id = make_encoder(SentenceTransformerText()).id
    features = ItemFeatures(
        n,
        {
            "text": ModalityFeatures("text", view(384, 1.0), np.ones(n, bool), text_id),
            "image": ModalityFeatures("image", view(48, 1.0), image_mask, "synthetic-image"),
        },
    )
    return catalogue(items), features, view(16, 1.0), image_mask


def test_aligned_space_finds_held_out_pairs_far_above_random(synthetic):
    ds, features, _, image_mask = synthetic
    train = np.arange(180)
    search = CatalogueSearch.fit(ds, features, config=FAST, items=train)
    test = np.arange(180, 240)[image_mask[180:]]
    found = retrieval_metrics(paired_ranks(search.pair_scores(test)))
    chance = random_retrieval_metrics(len(test))
    assert found["mrr"] > 5 * chance["mrr"] and found["recall@10"] > 0.8, (found, chance)
    training = search.manifest["training"]
    # the 180 training items minus those without an image take part; the rest are counted
    skipped = int((~image_mask[train]).sum())
    assert training["skipped_missing_view"] == {"text": 0, "image": skipped}
    assert training["trained_pairs"] + training["valid_pairs"] == 180 - skipped


def test_contrastive_loss_decreases_and_the_temperature_is_learned(synthetic):
    _, features, _, _ = synthetic
    views = {m: (features[m].matrix, features[m].mask) for m in ("text", "image")}
    _, report = train_alignment(views, FAST)
    history = report.history
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    assert min(h["valid_loss"] for h in history) < history[0]["valid_loss"]
    assert report.logit_scale != pytest.approx(1 / FAST.temperature)
    assert report.logit_scale <= FAST.max_logit_scale


def test_a_recommender_embedding_is_aligned_as_a_third_view(synthetic):
    ds, features, behaviour, image_mask = synthetic
    search = CatalogueSearch.fit(
        ds, features, item_embeddings=behaviour, config=FAST, items=np.arange(180)
    )
    test = np.arange(180, 240)[image_mask[180:]]
    for other in ("text", "image"):
        found = retrieval_metrics(paired_ranks(search.pair_scores(test, "recommender", other)))
        assert found["mrr"] > 5 * random_retrieval_metrics(len(test))["mrr"], other
    assert search.manifest["views"] == ["text", "image", "recommender"]
    assert search.ways == ["text", "image", "recommender", "fused"]
    assert len(search.search("robots", by="recommender", k=ds.n_items)) == ds.n_items
    with pytest.raises(ModelError, match="one row per item"):
        CatalogueSearch.fit(ds, features, item_embeddings=behaviour[:10], config=FAST)


def test_search_ranks_only_items_with_the_view_and_save_load_is_identical(synthetic, tmp_path):
    ds, features, _, image_mask = synthetic
    search = CatalogueSearch.fit(ds, features, config=FAST)
    query = "a space adventure with robots"
    by_image = search.search(query, by="image", k=ds.n_items)
    assert len(by_image) == image_mask.sum()
    assert set(by_image["item_id"]) == set(ds.items["item_id"][image_mask])
    assert by_image["image_path"].notna().all()
    assert by_image["score"].is_monotonic_decreasing
    assert len(search.search(query, by="text", k=ds.n_items)) == ds.n_items
    assert len(search.search(query, by="fused", k=5)) == 5

    search.save(tmp_path / "index")
    loaded = CatalogueSearch.load(tmp_path / "index")
    for by in ("image", "text", "fused"):
        pd.testing.assert_frame_equal(loaded.search(query, by=by), search.search(query, by=by))
    np.testing.assert_array_equal(loaded.embed_queries([query]), search.embed_queries([query]))
    # queries never flip a shared module's mode (a server embeds from many threads at once)
    assert not search.aligner.training and not loaded.aligner.training
    assert loaded.manifest["encoders"]["text"] == features["text"].encoder_id
    assert loaded.manifest["encoders"]["image"] == "synthetic-image"
    assert not list((tmp_path / "index").glob("*.tmp"))


def test_bad_requests_are_clear_errors(synthetic, tmp_path):
    ds, features, _, _ = synthetic
    search = CatalogueSearch.fit(ds, features, config=FAST)
    with pytest.raises(ConfigError, match="unknown by='poster'"):
        search.search("robots", by="poster")
    for empty in ("", "   "):
        with pytest.raises(ConfigError, match="empty query"):
            search.search(empty)
    images_only = ItemFeatures(features.n_items, {"image": features["image"]})
    with pytest.raises(ConfigError, match=r"features lack \['text'\]"):
        CatalogueSearch.fit(ds, images_only)
    other = parse_features_config({"text": {"max_length": 64}})
    with pytest.raises(ConfigError, match="queries must be embedded by the catalogue's text"):
        CatalogueSearch.fit(ds, features, features_config=other)
    with pytest.raises(DataError, match="not a search index"):
        CatalogueSearch.load(tmp_path)


def test_saving_over_an_index_is_all_or_nothing(synthetic, tmp_path, monkeypatch):
    ds, features, _, _ = synthetic
    CatalogueSearch.fit(ds, features, config=FAST).save(tmp_path / "index")
    changed = CatalogueSearch.load(tmp_path / "index")
    changed.items = changed.items.assign(title="changed")

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("fusionrec.tasks.search.save_torch", crash)
    with pytest.raises(OSError, match="disk full"):
        changed.save(tmp_path / "index")  # dies after the item table, before the weights
    kept = CatalogueSearch.load(tmp_path / "index")
    assert kept.items["title"].tolist() == ds.items["title"].tolist()
    assert [p.name for p in tmp_path.iterdir()] == ["index"]  # no temporary folder left

    monkeypatch.undo()
    kept.items.head(10).to_parquet(tmp_path / "index" / "items.parquet", index=False)
    with pytest.raises(DataError, match=r"disagree on the number of items \(\[10, 240\]\)"):
        CatalogueSearch.load(tmp_path / "index")


def test_a_cached_index_describes_the_catalogue_as_it_is_now(synthetic):
    ds, features, _, _ = synthetic
    search = CatalogueSearch.fit(ds, features, config=FAST)
    moved = ds.items.assign(image_path=ds.items["image_path"].str.replace("posters/", "new/"))
    described = search.describing(catalogue(moved))
    hits = described.search("robots", by="image", k=5)
    assert hits["image_path"].str.startswith("new/").all()
    with pytest.raises(DataError, match="fitted on other items than other's"):
        search.describing(catalogue(ds.items.head(100), name="other"))


@pytest.fixture(scope="module")
def movielens_slice():
    """30 real movies (24 with posters, 6 without) with real MiniLM + EfficientNet features."""
    if not ML.exists():
        pytest.skip(f"team data mirror not found at {ML}")
    from fusionrec.data import load_dataset

    full = load_dataset(str(ML))
    no_poster = np.flatnonzero(full.items["image_path"].isna().to_numpy())[:6]
    rows = np.concatenate([np.arange(24), no_poster])
    ds = catalogue(full.items.iloc[rows].reset_index(drop=True), "movielens-slice")
    ds.text_fields = full.text_fields
    return ds, build_item_features(ds, modalities=["text", "image"], progress=False)


def test_real_slice_queries_use_the_catalogue_text_encoder_and_skip_missing_posters(
    movielens_slice,
):
    ds, features = movielens_slice
    search = CatalogueSearch.fit(ds, features, config=FAST)
    has_poster = ds.items["image_path"].notna().to_numpy()
    hits = search.search("a space adventure with robots", by="image", k=100)
    assert len(hits) == has_poster.sum() == 24
    assert all(os.path.exists(p) for p in hits["image_path"])
    assert len(search.search("a space adventure with robots", by="text", k=100)) == 30
    # an item's own text as the query lands exactly on its catalogue text embedding
    texts, _ = render_texts(ds.items, default_template(ds.text_fields))
    np.testing.assert_allclose(
        search.embed_queries(texts[:3]), search.view("text")[0][:3], atol=1e-5
    )


def test_clip_towers_serve_as_they_are(tiny_clip, tmp_path):  # noqa: F811
    paths = [str(write_image(tmp_path / f"{i}.jpg", seed=i)) for i in range(12)]
    items = pd.DataFrame(
        {
            "item_id": list(range(12)),
            "title": [f"a poster of thing number {i}" for i in range(12)],
            "image_path": paths,
        }
    )
    ds = catalogue(items, "clip-catalogue")
    clip = {"encoder": "clip", "model": str(tiny_clip), "batch_size": 4}
    config = parse_features_config({"text": clip, "image": clip})
    features = build_item_features(
        ds, config, ["text", "image"], cache_dir=tmp_path / "cache", progress=False
    )
    search = CatalogueSearch.fit(ds, features, features_config=config)
    assert search.manifest["mode"] == f"clip:{tiny_clip}"
    assert search.manifest["training"]["epochs_run"] == 0
    hits = search.search("a red poster", by="image", k=12)
    query, _ = make_encoder(config.text).encode(["a red poster"])
    expected = features["image"].matrix @ query[0]
    np.testing.assert_allclose(hits["score"], np.sort(expected)[::-1], atol=1e-5)
    search.save(tmp_path / "index")
    loaded = CatalogueSearch.load(tmp_path / "index")
    pd.testing.assert_frame_equal(loaded.search("a red poster"), search.search("a red poster"))


SHOP = {
    "h1": "a warm knitted wool hat for cold winter days",
    "j1": "slim blue denim jeans with five pockets",
    "b1": "waterproof leather hiking boots",
    "s1": "a silk scarf with a floral print",
    "k1": "a stainless steel kitchen knife for chopping vegetables",
    "t1": "a cotton t-shirt with a round neck",
}


def write_shop(folder: Path) -> Path:
    """A text-only catalogue (no image column) of six products and a few purchases."""
    folder.mkdir()
    items = pd.DataFrame({"item_id": list(SHOP), "description": list(SHOP.values())})
    items.to_csv(folder / "items.csv", index=False)
    pd.DataFrame({"user_id": ["u1", "u1", "u2", "u3"], "item_id": ["h1", "s1", "j1", "b1"]}).to_csv(
        folder / "buys.csv", index=False
    )
    config = {
        "dataset": {
            "name": "shop",
            "path": str(folder / "buys.csv"),
            "items_path": str(folder / "items.csv"),
            "text_fields": ["description"],
        },
        "features": {"cache_dir": str(folder / "cache")},
    }
    (folder / "shop.yaml").write_text(yaml.safe_dump(config))
    return folder / "shop.yaml"


def test_a_catalogue_without_images_is_searched_by_its_text(tmp_path):
    """No images, nothing to align: the query and the item texts are compared in the text
    encoder's own space (real MiniLM), by the command line and from Python alike."""
    from fusionrec.config import load_config
    from fusionrec.train.experiment import load_clean_dataset

    config = write_shop(tmp_path / "shop")
    ds = load_clean_dataset(load_config(config))
    features = build_item_features(
        ds, parse_features_config({}), ["text"], cache_dir=tmp_path / "cache", progress=False
    )
    search = CatalogueSearch.fit(ds, features)
    assert search.manifest["mode"] == "text-only" and search.default_way == "text"
    assert search.ways == ["text"] and search.manifest["training"]["trained_pairs"] == 0
    hits = search.search("something to keep my head warm", k=6)
    assert hits["item_id"].iloc[0] == "h1" and hits["image_path"].isna().all()
    query, _ = make_encoder(SentenceTransformerText()).encode(["something to keep my head warm"])
    np.testing.assert_allclose(  # cosine in MiniLM's space, as encoded
        hits["score"], np.sort(features["text"].matrix @ query[0])[::-1], atol=1e-5
    )
    assert search.search("shoes for walking in the mountains", k=1)["item_id"][0] == "b1"
    with pytest.raises(ConfigError, match="unknown by='image': use one of text$"):
        search.search("a hat", by="image")
    search.save(tmp_path / "index")
    pd.testing.assert_frame_equal(
        CatalogueSearch.load(tmp_path / "index").search("a hat"), search.search("a hat")
    )
    result = CliRunner().invoke(app, ["search", "a knife for the kitchen", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert "by text in shop" in result.output
    assert result.output.index("k1") < result.output.index("t1")
    untitled = CliRunner().invoke(
        app, ["search", "a hat", "-d", str(tmp_path / "shop" / "buys.csv"), "--cache-dir",
              str(tmp_path / "cache")],
    )  # fmt: skip
    assert "has no text fields; name the item table's text columns in dataset.text_fields" in (
        str(untitled.exception)
    )


def write_movielens_folder(folder: Path, n: int) -> Path:
    """A movielens-100k-mm-format folder with the first ``n`` real movies and their posters."""
    folder.mkdir()
    items = pd.read_csv(ML / "items.csv").drop_duplicates("movie_id").head(n)
    items.to_csv(folder / "items.csv", index=False)
    ratings = pd.read_csv(ML / "ratings.csv")
    ratings[ratings["movie_id"].isin(items["movie_id"])].to_csv(folder / "ratings.csv", index=False)
    (folder / "posters").mkdir()
    for movie in items["movie_id"]:
        poster = ML / "posters" / f"{movie}.jpg"
        if poster.exists():
            (folder / "posters" / poster.name).symlink_to(poster)
    return folder


def test_cli_fits_on_first_use_then_reuses_the_index(tmp_path):
    if not ML.exists():
        pytest.skip(f"team data mirror not found at {ML}")
    data = write_movielens_folder(tmp_path / "ml", 16)
    index = tmp_path / "index"
    args = ["search", "toys that come alive", "-d", str(data), "--by", "text", "-k", "16"]
    first = CliRunner().invoke(app, [*args, "--index", str(index), "--cache-dir", str(tmp_path)])
    assert first.exit_code == 0, first.output
    assert "Toy Story (1995)" in first.output and "GoldenEye (1995)" in first.output
    stamp = (index / "manifest.json").stat().st_mtime_ns
    second = CliRunner().invoke(app, ["search", "robots", "--index", str(index), "-k", "2"])
    assert second.exit_code == 0, second.output
    assert (index / "manifest.json").stat().st_mtime_ns == stamp  # read, not refitted
    assert "by image in movielens-100k-mm" in second.output
    assert second.output.count(".jpg") == 2  # the two image paths
    # another dataset asked for with a saved index: refused, not answered from the index
    other = CliRunner().invoke(
        app, ["search", "robots", "-d", "amazon-baby", "--index", str(index)]
    )
    assert other.exit_code != 0
    assert "holds an index of dataset 'movielens-100k-mm', not 'amazon-baby'" in str(
        other.exception
    )


def test_cli_errors_are_one_line_and_exit_2(synthetic, tmp_path):
    ds, features, _, _ = synthetic
    CatalogueSearch.fit(ds, features, config=FAST).save(tmp_path / "index")
    code = "from fusionrec.cli import main; main()"
    args = [sys.executable, "-c", code, "search", "robots", "--index", str(tmp_path / "index")]
    with pytest.raises(ConfigError, match="whole number"):
        CatalogueSearch.load(tmp_path / "index").search("robots", k=2.5)
    # refused before any data is read: the dataset named here does not even exist
    bad_by = subprocess.run([*args[:5], "-d", str(tmp_path / "nowhere"), "--by", "poster"],
                            capture_output=True, text=True)  # fmt: skip
    assert bad_by.returncode == 2 and "--by must be image, text or fused" in bad_by.stderr
    assert "nowhere" not in bad_by.stderr
    no_view = subprocess.run([*args, "--by", "recommender"], capture_output=True, text=True)
    assert no_view.returncode == 2 and "error: unknown by='recommender'" in no_view.stderr
    no_data = subprocess.run(args[:5], capture_output=True, text=True, cwd=tmp_path)
    assert no_data.returncode == 2 and "give --dataset" in no_data.stderr
