"""A named dataset read from generic files: ``movielens-latest-small-mm`` by its name alone is
the dataset its full description gives (the benchmarks' explicit config)."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from fusionrec.data import load_dataset
from fusionrec.errors import DataError


def _real_paths(items: pd.DataFrame) -> pd.DataFrame:
    out = items.copy()
    out["image_path"] = out["image_path"].map(
        lambda p: os.path.realpath(p) if isinstance(p, str) else p
    )
    return out


def test_movielens_latest_by_name_equals_its_full_description(data_root):
    folder = data_root / "movielens-latest-small-mm"
    if not folder.exists():
        pytest.skip("movielens-latest-small-mm is not available")
    by_name = load_dataset("movielens-latest-small-mm")
    described = load_dataset(
        {
            "name": "movielens-latest-small-mm",
            "path": str(folder / "ratings.csv"),
            "columns": {"user": "userId", "item": "movieId"},
            "items_path": str(folder / "movies.csv"),
            "text_fields": ["title", "genres"],
            "item_text_tables": [{"path": str(folder / "tags.csv"), "column": "tag"}],
            "image_pattern": "posters/{movieId}.jpg",
        }
    )
    assert by_name.name == described.name == "movielens-latest-small-mm"
    assert (by_name.n_users, by_name.n_items) == (610, 9742)
    pd.testing.assert_frame_equal(by_name.interactions, described.interactions)
    pd.testing.assert_frame_equal(_real_paths(by_name.items), _real_paths(described.items))
    assert 0 < by_name.items["image_path"].notna().sum() < by_name.n_items  # half have posters
    # a setting given with the name wins over the named one
    no_tags = load_dataset("movielens-latest-small-mm", item_text_tables=[])
    assert "tag" in by_name.items.columns and "tag" not in no_tags.items.columns


def test_unknown_name_lists_every_named_dataset(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="movielens-latest-small-mm"):
        load_dataset("no-such-dataset")
