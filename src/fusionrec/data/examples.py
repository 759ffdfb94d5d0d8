"""Small synthetic datasets in the three shapes of docs/data.md, for trying the walk-through
(``python -m fusionrec.data.examples own-data``) and for the tests of the readers:

* ``mmrec/``: an MMRec-format benchmark: ``bench.inter`` (userID itemID x_label) with
  ``image_feat.npy``, ``text_feat.npy``, ``audio_feat.npy`` (row i = item i);
* ``movielens/``: MovieLens-latest style: ``ratings.csv``, ``movies.csv`` (title, genres),
  ``tags.csv`` and ``posters/<movieId>.jpg`` for half of the movies;
* ``retail/``: a purchase log: ``transactions.csv`` with ISO dates and 10-digit article
  ids with leading zeros, ``articles.csv`` with text for a quarter of the articles and
  photos in nested folders ``images/<first 3 digits>/<article_id>.jpg``.

The interactions have structure (users prefer one of a few item groups), so a model
trained on them beats popularity.
"""

from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

N_USERS, N_ITEMS, PER_USER, GROUPS = 60, 40, 10, 4
GENRES = ["Action", "Comedy", "Drama", "Sci-Fi"]


def _pairs(seed: int) -> pd.DataFrame:
    """(user, item, order) with each user drawing mostly from their group's items."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(N_USERS):
        own = np.arange(N_ITEMS)[np.arange(N_ITEMS) % GROUPS == u % GROUPS]
        weights = np.where(np.isin(np.arange(N_ITEMS), own), 8.0, 1.0)
        items = rng.choice(N_ITEMS, PER_USER, replace=False, p=weights / weights.sum())
        rows += [(u, int(i), t) for t, i in enumerate(items)]
    return pd.DataFrame(rows, columns=["user", "item", "order"])


def _jpeg(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (24, 32)) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, quality=80)


def write_mmrec(folder: Path, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    pairs = _pairs(seed)
    label = np.select([pairs["order"] == PER_USER - 1, pairs["order"] == PER_USER - 2], [2, 1], 0)
    inter = pd.DataFrame({"userID": pairs["user"], "itemID": pairs["item"], "x_label": label})
    inter.to_csv(folder / "bench.inter", sep="\t", index=False)
    rng = np.random.default_rng(seed)
    group = np.eye(GROUPS, dtype=np.float32)[np.arange(N_ITEMS) % GROUPS]
    for name, dim in (("image", 16), ("text", 12), ("audio", 8)):
        noise = rng.normal(0, 0.1, (N_ITEMS, dim)).astype(np.float32)
        np.save(folder / f"{name}_feat.npy", np.pad(group, ((0, 0), (0, dim - GROUPS))) + noise)
    return folder


def write_movielens(folder: Path, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    pairs = _pairs(seed)
    rng = np.random.default_rng(seed)
    movie_ids = 1 + 7 * np.arange(N_ITEMS)  # MovieLens ids are sparse
    ratings = pd.DataFrame(
        {
            "userId": pairs["user"] + 1,
            "movieId": movie_ids[pairs["item"]],
            "rating": rng.integers(5, 11, len(pairs)) / 2,
            "timestamp": 1_500_000_000 + 3600 * pairs["order"] + pairs["user"],
        }
    )
    ratings.to_csv(folder / "ratings.csv", index=False)
    movies = pd.DataFrame(
        {
            "movieId": movie_ids,
            "title": [f"Movie {i} ({1990 + i % 30})" for i in range(N_ITEMS)],
            "genres": [f"{GENRES[i % GROUPS]}|{GENRES[(i + 1) % GROUPS]}" for i in range(N_ITEMS)],
        }
    )
    movies.to_csv(folder / "movies.csv", index=False)
    tags = pd.DataFrame(
        {
            "userId": 1 + np.arange(2 * N_ITEMS) % N_USERS,
            "movieId": np.tile(movie_ids, 2),
            "tag": [f"tag-{GENRES[i % GROUPS].lower()}" for i in range(2 * N_ITEMS)],
            "timestamp": 1_500_000_000,
        }
    )
    tags.iloc[::3].to_csv(folder / "tags.csv", index=False)
    for i in range(0, N_ITEMS, 2):
        _jpeg(folder / "posters" / f"{movie_ids[i]}.jpg", (40 * (i % GROUPS), 90, 160))
    return folder


def write_retail(folder: Path, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    pairs = _pairs(seed)
    articles = [f"0{(108775015 + 23_456_789 * i) % 10**9:09d}" for i in range(N_ITEMS)]
    customers = [f"c{(u * 2654435761) % 16**8:08x}" for u in range(N_USERS)]
    start = date(2018, 9, 20)
    transactions = pd.DataFrame(
        {
            "t_dat": [(start + timedelta(days=int(d))).isoformat() for d in pairs["order"]],
            "customer_id": np.asarray(customers)[pairs["user"]],
            "article_id": np.asarray(articles)[pairs["item"]],
            "price": np.round(0.01 + 0.05 * (pairs["item"] % 7) / 7, 4),
            "sales_channel_id": 1 + pairs["user"] % 2,
        }
    )
    transactions.to_csv(folder / "transactions.csv", index=False)
    described = np.arange(N_ITEMS) % 4 == 0
    table = pd.DataFrame(
        {
            "article_id": articles,
            "prod_name": np.where(
                described, [f"{GENRES[i % GROUPS]} top" for i in range(N_ITEMS)], ""
            ),
            "detail_desc": np.where(described, "Soft cotton jersey with a round neckline.", ""),
        }
    )
    table.to_csv(folder / "articles.csv", index=False)
    for i, article in enumerate(articles):
        _jpeg(folder / "images" / article[:3] / f"{article}.jpg", (200, 60 * (i % GROUPS), 40))
    return folder


def write_all(root: Path, seed: int = 0) -> dict[str, Path]:
    """Write the three example datasets under ``root``."""
    return {
        "mmrec": write_mmrec(root / "mmrec", seed),
        "movielens": write_movielens(root / "movielens", seed),
        "retail": write_retail(root / "retail", seed),
    }


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "own-data")
    for shape, path in write_all(target).items():
        print(f"{shape}: {path}")
