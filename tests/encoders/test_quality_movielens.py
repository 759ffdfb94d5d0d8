"""Quality of the default encoders on the real movielens-100k-mm catalogue."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageOps

from fusionrec.encoders import (
    build_item_features,
    extract_item_features,
    make_encoder,
    parse_features_config,
)
from fusionrec.encoders.config import EfficientNetImage, SentenceTransformerText
from fusionrec.encoders.templates import default_template, render_texts

STAR_WARS = "Star Wars (1977)"
SEQUELS = {"Return of the Jedi (1983)", "Empire Strikes Back, The (1980)"}


def star_wars_neighbours(dataset, rows: np.ndarray, k: int = 10) -> list[str]:
    titles = dataset.items["title"].to_numpy()[rows]
    texts, _ = render_texts(dataset.items.iloc[rows], default_template(dataset.text_fields))
    matrix, _ = make_encoder(SentenceTransformerText()).encode(texts)
    query = int(np.flatnonzero(titles == STAR_WARS)[0])
    order = np.argsort(-(matrix @ matrix[query]))
    return [titles[i] for i in order if i != query][:k]


def test_star_wars_text_neighbours_include_a_sequel_in_a_sample(movielens):
    titles = movielens.items["title"]
    trilogy = np.flatnonzero(titles.isin({STAR_WARS, *SEQUELS}).to_numpy())
    others = np.setdiff1d(np.arange(movielens.n_items), trilogy)
    sample = np.random.default_rng(0).choice(others, size=120, replace=False)
    neighbours = star_wars_neighbours(movielens, np.concatenate([trilogy, sample]))
    assert SEQUELS & set(neighbours), neighbours


@pytest.mark.slow
def test_star_wars_text_neighbours_include_a_sequel_in_the_whole_catalogue(movielens):
    neighbours = star_wars_neighbours(movielens, np.arange(movielens.n_items))
    assert SEQUELS & set(neighbours), neighbours


def augmented_copies(paths: list[str], out_dir) -> list[str]:
    """Mirror each poster and crop 10% off every side, as a new JPEG."""
    copies = []
    for i, path in enumerate(paths):
        with Image.open(path) as img:
            w, h = img.size
            img = ImageOps.mirror(img.convert("RGB"))
            img = img.crop((w // 10, h // 10, w - w // 10, h - h // 10))
            copies.append(str(out_dir / f"aug{i}.jpg"))
            img.save(copies[-1], quality=90)
    return copies


def assert_copies_nearest_to_their_originals(copies: np.ndarray, posters: np.ndarray) -> None:
    """Row i of ``copies`` is an augmented ``posters[i]``; it must be closest to that one."""

    def unit(m):
        return m / np.linalg.norm(m, axis=1, keepdims=True)

    similarity = unit(copies) @ unit(posters).T
    nearest = similarity.argmax(axis=1)
    assert (nearest == np.arange(len(copies))).all(), np.flatnonzero(
        nearest != np.arange(len(copies))
    )


def test_flipped_cropped_poster_is_nearest_to_its_original_in_a_sample(movielens, tmp_path):
    paths = movielens.items[movielens.image_column].dropna().tolist()
    chosen = np.random.default_rng(1).choice(len(paths), size=24, replace=False)
    posters = [paths[i] for i in chosen]
    encoder = make_encoder(EfficientNetImage())
    originals, mask = encoder.encode(posters)
    copies, _ = encoder.encode(augmented_copies(posters[:8], tmp_path))
    assert mask.all()
    assert_copies_nearest_to_their_originals(copies, originals)


def test_overview_only_text_coverage_matches_the_data(movielens, tmp_path):
    config = parse_features_config(
        {"text": {"encoder": "tfidf", "dim": 16, "template": "{overview}"}}
    )
    features, report = extract_item_features(movielens, config, ["text"], tmp_path, False)
    assert int(features["text"].mask.sum()) == 1682 - 18
    assert report.modalities[0].field_coverage == {"overview": pytest.approx(1664 / 1682)}
    assert set(report.modalities[0].problems.values()) == {"empty text"}


@pytest.mark.slow
def test_all_posters_coverage_and_augmentation_retrieval(movielens, tmp_path):
    features = build_item_features(movielens, None, ["image"], tmp_path / "cache", False)
    image = features["image"]
    assert int(image.mask.sum()) == 1663 and len(image.problems) == 19
    assert set(image.problems.values()) == {"no image"}
    rows = np.flatnonzero(image.mask)
    chosen = np.random.default_rng(2).choice(rows, size=40, replace=False)
    ordered = np.concatenate([chosen, np.setdiff1d(rows, chosen)])
    paths = movielens.items[movielens.image_column].to_numpy()[chosen].tolist()
    copies, _ = make_encoder(EfficientNetImage()).encode(augmented_copies(paths, tmp_path))
    assert_copies_nearest_to_their_originals(copies, image.matrix[ordered])
