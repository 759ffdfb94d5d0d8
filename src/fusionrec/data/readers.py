"""Readers for every supported source format; each returns a ``Dataset``.

- ``read_generic``: interactions in CSV/TSV/Parquet/JSON-lines with a column mapping, plus an
  optional item table (text fields, image/audio paths) and user table;
- ``read_movielens_original``: GroupLens ``u.data`` / ``u.item`` / ``u.user``;
- ``read_movielens_mm``: the ``movielens-100k-mm`` bundle (ratings, items with overviews,
  users, poster JPEGs);
- ``read_mmrec``: MMRec atomic ``<name>.inter`` (``userID itemID x_label``) with optional
  ``*_feat.npy`` matrices aligned with item ids.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fusionrec.data.dataset import LABEL, RATING, TIMESTAMP, Dataset, build_dataset
from fusionrec.data.tables import numeric_column, read_table, require_columns
from fusionrec.errors import DataError

log = logging.getLogger(__name__)

ML_GENRES = [
    "genre_unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "FilmNoir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "SciFi",
    "Thriller",
    "War",
    "Western",
]


def _interactions(
    frame: pd.DataFrame,
    path: Path,
    *,
    user: str,
    item: str,
    rating: str | None,
    timestamp: str | None,
    label: str | None = None,
    header_lines: int = 1,
) -> pd.DataFrame:
    """Select and type-check the interaction columns, naming the bad cell on failure."""
    wanted = [c for c in (user, item, rating, timestamp, label) if c]
    require_columns(frame, wanted, path)
    out = pd.DataFrame({"user_id": frame[user].to_numpy(), "item_id": frame[item].to_numpy()})
    for name, col in ((user, "user_id"), (item, "item_id")):
        if frame[name].isna().any():
            pos = int(np.flatnonzero(frame[name].isna().to_numpy())[0])
            raise DataError(
                f"empty {col}",
                path=path,
                line=pos + 1 + header_lines,
                column=name,
                hint="Every interaction needs a user and an item",
            )
    if rating:
        out[RATING] = numeric_column(frame, rating, path, header_lines=header_lines).astype(
            np.float32
        )
    if timestamp:
        out[TIMESTAMP] = numeric_column(frame, timestamp, path, header_lines=header_lines).astype(
            np.int64
        )
    if label:
        values = numeric_column(frame, label, path, header_lines=header_lines)
        bad = ~np.isin(values, (0, 1, 2))
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"split label must be 0 (train), 1 (valid) or 2 (test), found {values[pos]!r}",
                path=path,
                line=pos + 1 + header_lines,
                column=label,
            )
        out[LABEL] = values.astype(np.int8)
    return out


def _resolve_duplicate_items(items: pd.DataFrame, path: Path, log_lines: list[str]) -> pd.DataFrame:
    """Keep the first row of each repeated item id and say which ids were repeated."""
    dup = items["item_id"].duplicated(keep="first")
    if not dup.any():
        return items
    ids = sorted(pd.unique(items.loc[dup, "item_id"]).tolist())
    groups = items[items["item_id"].isin(ids)].groupby("item_id", sort=False)
    differing = [k for k, g in groups if len(g.drop_duplicates()) > 1]
    msg = (
        f"{path}: {int(dup.sum())} duplicate item rows for {len(ids)} item ids resolved by "
        f"keeping the first row of each: ids {ids}"
    )
    if differing:
        msg += f"; rows differ in content for ids {differing}"
    else:
        msg += " (the repeated rows are identical)"
    log.warning(msg)
    log_lines.append(msg)
    return items.loc[~dup].reset_index(drop=True)


def _attach_paths(items: pd.DataFrame, column: str, base: Path | None, target: str) -> pd.DataFrame:
    """Resolve relative media paths against ``base``; missing files stay listed (the encoders
    mask them and report them) rather than being dropped here."""
    raw = items[column]
    resolved = [
        None if (pd.isna(v) or str(v).strip() == "") else str((base or Path()) / str(v))
        for v in raw
    ]
    items = items.copy()
    items[target] = resolved
    return items


def read_generic(
    path: str | Path,
    *,
    name: str | None = None,
    fmt: str | None = None,
    sep: str | None = None,
    columns: dict[str, str] | None = None,
    items_path: str | Path | None = None,
    item_columns: dict[str, str] | None = None,
    text_fields: list[str] | None = None,
    image_column: str | None = None,
    audio_column: str | None = None,
    media_dir: str | Path | None = None,
    users_path: str | Path | None = None,
) -> Dataset:
    """Interactions from any table format plus optional item and user tables.

    ``columns`` maps ``user``/``item``/``rating``/``timestamp``/``label`` to the file's column
    names (defaults: user_id, item_id; rating/timestamp/label only when present).
    """
    path = Path(path)
    cols = {"user": "user_id", "item": "item_id"} | (columns or {})
    frame = read_table(path, fmt, sep=sep)
    for optional in ("rating", "timestamp", "label"):
        if optional not in cols and optional in frame.columns:
            cols[optional] = optional
    unknown = set(cols) - {"user", "item", "rating", "timestamp", "label"}
    if unknown:
        raise DataError(
            f"unknown column mapping key(s) {sorted(unknown)}",
            hint="Use user, item, rating, timestamp, label",
        )
    inter = _interactions(
        frame,
        path,
        user=cols["user"],
        item=cols["item"],
        rating=cols.get("rating"),
        timestamp=cols.get("timestamp"),
        label=cols.get("label"),
    )
    log_lines: list[str] = []
    items = None
    if items_path is not None:
        items_path = Path(items_path)
        items = read_table(items_path)
        icol = (item_columns or {}).get("item", "item_id")
        require_columns(items, [icol, *(text_fields or [])], items_path)
        items = items.rename(columns={icol: "item_id"})
        items = _resolve_duplicate_items(items, items_path, log_lines)
        base = Path(media_dir) if media_dir else items_path.parent
        for col, target in ((image_column, "image_path"), (audio_column, "audio_path")):
            if col:
                require_columns(items, [col], items_path)
                items = _attach_paths(items, col, base, target)
        items = _align_id_dtype(items, inter, "item_id")
    users = None
    if users_path is not None:
        users_path = Path(users_path)
        users = read_table(users_path)
        ucol = (item_columns or {}).get("user", "user_id")
        require_columns(users, [ucol], users_path)
        users = _align_id_dtype(users.rename(columns={ucol: "user_id"}), inter, "user_id")
    return build_dataset(
        name or path.stem,
        inter,
        items,
        users,
        text_fields=list(text_fields or []),
        image_column="image_path" if image_column else None,
        audio_column="audio_path" if audio_column else None,
        source={"interactions": str(path), "items": str(items_path) if items_path else None},
        log=log_lines,
    )


def _align_id_dtype(table: pd.DataFrame, inter: pd.DataFrame, col: str) -> pd.DataFrame:
    """Make the table's id column the same dtype as the interactions' (CSV ints vs strings)."""
    if table[col].dtype != inter[col].dtype:
        table = table.copy()
        try:
            table[col] = table[col].astype(inter[col].dtype)
        except (TypeError, ValueError):
            table[col] = table[col].astype(str)
    return table


def read_movielens_original(directory: str | Path) -> Dataset:
    """The untouched GroupLens MovieLens-100K files: ``u.data``, ``u.item``, ``u.user``."""
    directory = _existing_dir(directory)
    data_path = directory / "u.data"
    frame = read_table(
        data_path, "tsv", header=False, names=["user_id", "item_id", "rating", "timestamp"]
    )
    inter = _interactions(
        frame,
        data_path,
        user="user_id",
        item="item_id",
        rating="rating",
        timestamp="timestamp",
        header_lines=0,
    )
    inter["user_id"] = inter["user_id"].astype(np.int64)
    inter["item_id"] = inter["item_id"].astype(np.int64)
    items = None
    item_path = directory / "u.item"
    if item_path.exists():
        items = pd.read_csv(
            item_path,
            sep="|",
            header=None,
            encoding="latin-1",
            names=[
                "item_id",
                "title",
                "release_date",
                "video_release_date",
                "imdb_url",
                *ML_GENRES,
            ],
        )
        items["genres"] = _genre_string(items)
    users = None
    user_path = directory / "u.user"
    if user_path.exists():
        users = pd.read_csv(
            user_path,
            sep="|",
            header=None,
            names=["user_id", "age", "sex", "occupation", "zip_code"],
        )
    return build_dataset(
        "movielens-100k",
        inter,
        items,
        users,
        text_fields=["title", "genres"] if items is not None else [],
        label_columns=ML_GENRES if items is not None else [],
        source={"directory": str(directory), "format": "movielens-original"},
    )


def _genre_string(items: pd.DataFrame) -> pd.Series:
    flags = items[ML_GENRES].to_numpy().astype(bool)
    names = np.array([g.replace("genre_", "") for g in ML_GENRES], dtype=object)
    return pd.Series(["|".join(names[row]) for row in flags], index=items.index)


def read_movielens_mm(directory: str | Path) -> Dataset:
    """The ``movielens-100k-mm`` bundle: ratings + items with TMDB overviews + posters."""
    directory = _existing_dir(directory)
    ratings_path = directory / "ratings.csv"
    frame = read_table(ratings_path, "csv")
    inter = _interactions(
        frame,
        ratings_path,
        user="user_id",
        item="movie_id",
        rating="rating",
        timestamp="unix_timestamp",
    )
    log_lines: list[str] = []
    items_path = directory / "items.csv"
    items = read_table(items_path, "csv")
    require_columns(items, ["movie_id", "title", "overview", *ML_GENRES], items_path)
    items = items.rename(columns={"movie_id": "item_id"})
    items = _resolve_duplicate_items(items, items_path, log_lines)
    items["genres"] = _genre_string(items)
    poster_dir = directory / "posters"
    posters = [poster_dir / f"{i}.jpg" for i in items["item_id"]]
    items["image_path"] = [str(p) if p.exists() else None for p in posters]
    users_path = directory / "users.csv"
    users = read_table(users_path, "csv") if users_path.exists() else None
    return build_dataset(
        "movielens-100k-mm",
        inter,
        items,
        users,
        text_fields=["title", "genres", "overview"],
        image_column="image_path",
        label_columns=ML_GENRES,
        source={"directory": str(directory), "format": "movielens-100k-mm"},
        log=log_lines,
    )


def read_mmrec(path: str | Path, *, name: str | None = None) -> Dataset:
    """MMRec atomic format: a directory holding ``<name>.inter`` (or the file itself).

    Item ids in MMRec files are already indices ``0..n-1`` aligned with the rows of any
    ``*_feat.npy``; the item table therefore spans ``0..max(id)`` (and the feature rows when
    they are longer), so pre-computed features stay aligned.
    """
    path = Path(path)
    if path.is_dir():
        inter_files = sorted(path.glob("*.inter"))
        if name:
            inter_files = [p for p in inter_files if p.stem == name] or inter_files
        if not inter_files:
            raise DataError("no *.inter file found", path=path, hint="Point at an MMRec folder")
        inter_path = inter_files[0]
    else:
        inter_path = path
    if not inter_path.exists():
        raise DataError("file does not exist", path=inter_path)
    frame = read_table(inter_path, "tsv")
    label = "x_label" if "x_label" in frame.columns else None
    rating = "rating" if "rating" in frame.columns else None
    ts = "timestamp" if "timestamp" in frame.columns else None
    inter = _interactions(
        frame, inter_path, user="userID", item="itemID", rating=rating, timestamp=ts, label=label
    )
    feats = {
        p.stem.replace("_feat", ""): str(p) for p in sorted(inter_path.parent.glob("*_feat.npy"))
    }
    n_items = int(pd.to_numeric(inter["item_id"]).max()) + 1
    for feat_path in feats.values():
        n_items = max(n_items, int(np.load(feat_path, mmap_mode="r").shape[0]))
    items = pd.DataFrame({"item_id": np.arange(n_items, dtype=inter["item_id"].dtype)})
    return build_dataset(
        name or inter_path.stem,
        inter,
        items,
        None,
        source={"interactions": str(inter_path), "format": "mmrec", "features": feats},
    )


def _existing_dir(directory: str | Path) -> Path:
    directory = Path(directory)
    if not directory.exists():
        raise DataError(
            "directory does not exist",
            path=directory,
            hint="Pass an existing path, set $FUSIONREC_DATA, or use a named dataset",
        )
    if not directory.is_dir():
        raise DataError("expected a directory", path=directory)
    return directory


READERS: dict[str, Any] = {
    "generic": read_generic,
    "movielens-original": read_movielens_original,
    "movielens-100k-mm": read_movielens_mm,
    "mmrec": read_mmrec,
}
