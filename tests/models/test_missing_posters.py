"""Every multimodal model on real movielens-latest-small-mm data where half of the movies have
no poster: those movies stay in the catalogue with a masked image row, and every model trains
and scores them.

The slice: the 60 most active users and 120 of the movies they rated, the 60 most rated
with a poster and the 60 most rated without one (the real files: ratings, titles, genres,
tags, posters encoded by the default image encoder; text by TF-IDF to keep it fast).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from fusionrec.config import validate_config
from fusionrec.models import MODELS
from fusionrec.train.experiment import prepare, run_experiment
from fusionrec.train.reload import load_run_model

#: wrappers that need a base model to be named (as in the contract suite)
MODEL_PARAMS: dict[str, dict[str, Any]] = {"cold-transfer": {"base": "mf-bpr", "k": 5}}
MULTIMODAL = sorted(n for n, c in MODELS.items() if c.requires_features)
PER_SIDE = 60

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def sliced(data_root, tmp_path_factory) -> dict[str, Any]:
    source = data_root / "movielens-latest-small-mm"
    if not source.exists():
        pytest.skip("movielens-latest-small-mm is not available")
    out = tmp_path_factory.mktemp("ml-latest-slice")
    ratings = pd.read_csv(source / "ratings.csv")
    ratings = ratings[ratings.userId.isin(ratings.userId.value_counts().index[:60])]
    counts = ratings.movieId.value_counts()
    has = np.array([(source / "posters" / f"{i}.jpg").exists() for i in counts.index])
    movies = np.concatenate([counts.index[has][:PER_SIDE], counts.index[~has][:PER_SIDE]])
    ratings[ratings.movieId.isin(movies)].to_csv(out / "ratings.csv", index=False)
    for table in ("movies", "tags"):
        frame = pd.read_csv(source / f"{table}.csv")
        frame[frame.movieId.isin(movies)].to_csv(out / f"{table}.csv", index=False)
    config = {
        "dataset": {
            "name": "ml-latest-slice",
            "path": str(out / "ratings.csv"),
            "columns": {"user": "userId", "item": "movieId"},
            "items_path": str(out / "movies.csv"),
            "text_fields": ["title", "genres"],
            "item_text_tables": [{"path": str(out / "tags.csv"), "column": "tag"}],
            "image_pattern": "posters/{movieId}.jpg",
            "media_dir": str(source),
        },
        "split": {"method": "random", "seed": 1},
        "features": {
            "modalities": ["text", "image"],
            "text": {"encoder": "tfidf", "dim": 16, "min_df": 1},
            "cache_dir": str(out / "cache"),
        },
        "train": {"epochs": 2, "eval_every": 2, "batch_size": 512, "device": "cpu"},
        "evaluate": {"ks": [10, 20]},
        "seeds": [1],
    }
    prep = prepare(validate_config({**config, "model": {"name": "vbpr"}}), None, progress=False)
    return {"config": config, "prep": prep}


def test_movies_without_posters_are_masked_not_dropped(sliced):
    prep = sliced["prep"]
    image = prep.features["image"]
    assert prep.dataset.n_items == 2 * PER_SIDE  # no movie dropped for lack of a poster
    assert int(image.mask.sum()) == PER_SIDE  # half of them have a poster
    assert not image.matrix[~image.mask].any()  # the others a zero, flagged row
    assert image.matrix[image.mask].any(axis=1).all()
    assert prep.features["text"].mask.all()


@pytest.mark.parametrize("name", MULTIMODAL)
def test_every_multimodal_model_trains_and_scores_movies_without_posters(sliced, name, tmp_path):
    prep = sliced["prep"]
    cfg = validate_config(
        {**sliced["config"], "model": {"name": name, "params": MODEL_PARAMS.get(name, {})}}
    )
    results = run_experiment(cfg, tmp_path / name, prepared=prep, progress=False)
    assert np.isfinite([v["mean"] for v in results["test"].values()]).all()
    model, _ = load_run_model(tmp_path / name, 1, prep)
    model.eval()
    with torch.no_grad():
        scores = model.score(torch.arange(prep.dataset.n_users)).numpy()
    missing = ~prep.features["image"].mask
    assert scores.shape == (prep.dataset.n_users, prep.dataset.n_items)
    assert np.isfinite(scores).all()
    # movies without a poster get scores of their own, not one shared placeholder value
    assert np.unique(scores[:, missing].round(6)).size > missing.sum()
