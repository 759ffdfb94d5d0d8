from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from conftest import write_image
from fusionrec.data.dataset import build_dataset
from fusionrec.encoders import build_item_features, extract_item_features, parse_features_config
from fusionrec.errors import ConfigError


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    """Five items with text, image and audio, some of each missing."""
    root = tmp_path_factory.mktemp("catalogue")
    images = [str(write_image(root / f"{i}.png", seed=i)) for i in range(3)]
    rate = 16_000
    t = np.arange(rate // 2) / rate
    sounds = []
    for hz in (220, 880):
        sf.write(root / f"{hz}.wav", (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32), rate)
        sounds.append(str(root / f"{hz}.wav"))
    items = pd.DataFrame(
        {
            "item_id": ["a", "b", "c", "d", "e"],
            "title": ["Space war", "Space battle", "Cooking show", np.nan, "Chef"],
            "overview": ["rebels and empire", np.nan, "a chef cooks", np.nan, "kitchen food"],
            "image_path": [images[0], np.nan, images[1], str(root / "gone.png"), images[2]],
            "audio_path": [sounds[0], sounds[1], np.nan, np.nan, np.nan],
        }
    )
    inter = pd.DataFrame({"user_id": [1, 1, 2], "item_id": ["a", "b", "c"]})
    dataset = build_dataset(
        "toy",
        inter,
        items,
        text_fields=["title", "overview"],
        image_column="image_path",
        audio_column="audio_path",
    )
    np.save(root / "extra.npy", np.arange(10, dtype=np.float32).reshape(5, 2))
    return dataset, root


CONFIG = {"text": {"encoder": "tfidf", "dim": 4, "min_df": 1, "max_df": 1.0}}


def test_all_modalities_end_to_end_with_masks_and_problems(catalogue, tmp_path, caplog):
    dataset, root = catalogue
    config = parse_features_config({**CONFIG, "precomputed": {"extra": str(root / "extra.npy")}})
    with caplog.at_level(logging.INFO, logger="fusionrec.encoders"):
        features, report = extract_item_features(
            dataset, config, cache_dir=tmp_path, progress=False
        )
    assert features.names == ["text", "image", "audio", "extra"]
    assert features["text"].mask.tolist() == [True, True, True, False, True]
    assert features["image"].mask.tolist() == [True, False, True, False, True]
    assert features["audio"].mask.tolist() == [True, True, False, False, False]
    assert features["image"].dim == 1280 and features["audio"].dim == 256
    assert set(features["image"].problems) == {1, 3} and "gone.png" in features["image"].problems[3]
    by_name = {m.name: m for m in report.modalities}
    assert by_name["text"].field_coverage == {"title": 0.8, "overview": 0.6}
    assert by_name["image"].present == 3 and not by_name["image"].from_cache
    # one summary line per modality, never one per item; the full list is a CSV
    assert "item 3 missing" not in caplog.text
    assert (
        "image: 2 items without content (1 no image, 1 file not found), e.g. item ids b, d"
        in caplog.text
    )
    missing = pd.read_csv(by_name["image"].missing_file)
    assert missing["item_id"].tolist() == ["b", "d"] and "gone.png" in missing["reason"][1]
    assert "image: dim 1280, 3/5 items present (60.0%)" in caplog.text


def test_without_the_cache_nothing_is_written_there(catalogue, tmp_path):
    """--no-cache promises not to read or write the cache, so an unwritable cache folder
    (here: below a plain file) must not fail a run after the encoding is done."""
    dataset, _ = catalogue
    (tmp_path / "a-file").write_text("")
    features, report = extract_item_features(
        dataset,
        parse_features_config(CONFIG),
        ["text"],
        cache_dir=tmp_path / "a-file" / "cache",
        progress=False,
        use_cache=False,
    )
    text = report.modalities[0]
    assert features["text"].mask.tolist() == [True, True, True, False, True]
    assert text.missing_examples == ["d"] and text.missing_file is None


def test_rerun_reads_the_cache_and_gives_identical_features(catalogue, tmp_path):
    dataset, _ = catalogue
    config = parse_features_config(CONFIG)
    first = build_item_features(dataset, config, ["text", "image"], tmp_path, progress=False)
    again, report = extract_item_features(dataset, config, ["text", "image"], tmp_path, False)
    assert all(m.from_cache for m in report.modalities)
    for name in ("text", "image"):
        np.testing.assert_array_equal(first[name].matrix, again[name].matrix)
        assert first[name].problems == again[name].problems


def test_a_copied_catalogue_reads_the_cache(catalogue, tmp_path):
    """Copied files have new paths and timestamps but the same bytes: no new encoding. (A
    missing file counts by its path, which the problem report names.)"""
    dataset, root = catalogue
    config = parse_features_config(CONFIG)
    first = build_item_features(dataset, config, ["image", "audio"], tmp_path, progress=False)
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)  # copytree keeps timestamps: give the copies new ones
    for file in copy.iterdir():
        os.utime(file, ns=(1, 1))
    moved = dataset.items.copy()
    for column in ("image_path", "audio_path"):
        moved[column] = [
            str(copy / Path(p).name) if not pd.isna(p) and Path(p).exists() else p
            for p in moved[column]
        ]
    inter = pd.DataFrame({"user_id": [1, 1, 2], "item_id": ["a", "b", "c"]})
    elsewhere = build_dataset(
        "toy", inter, moved, image_column="image_path", audio_column="audio_path"
    )
    again, report = extract_item_features(elsewhere, config, ["image", "audio"], tmp_path, False)
    assert all(m.from_cache for m in report.modalities)
    for name in ("image", "audio"):
        np.testing.assert_array_equal(first[name].matrix, again[name].matrix)


def test_precomputed_replaces_the_encoder_for_that_modality(catalogue, tmp_path):
    dataset, root = catalogue
    config = parse_features_config({"precomputed": {"image": str(root / "extra.npy")}})
    features = build_item_features(dataset, config, ["image"], tmp_path, progress=False)
    assert features["image"].dim == 2 and features["image"].encoder_id.startswith("precomputed")


def test_unknown_modality_and_missing_columns_are_config_errors(catalogue, tmp_path):
    dataset, _ = catalogue
    with pytest.raises(ConfigError, match="video"):
        build_item_features(dataset, None, ["video"], tmp_path, progress=False)
    no_text = build_dataset("bare", pd.DataFrame({"user_id": [1], "item_id": [1]}))
    with pytest.raises(ConfigError, match="features.text.template"):
        build_item_features(no_text, None, ["text"], tmp_path, progress=False)
