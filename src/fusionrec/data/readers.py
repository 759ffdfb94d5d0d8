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

from fusionrec.data.content import attach_paths, join_texts, pattern_paths
from fusionrec.data.dataset import LABEL, RATING, TIMESTAMP, Dataset, build_dataset
from fusionrec.data.files import existing_files
from fusionrec.data.npy import read_npy
from fusionrec.data.tables import (
    SHOWN_BAD_ROWS,
    BadRows,
    cell_error,
    check_policy,
    parse_numeric,
    read_table,
    require_columns,
    row_lines,
)
from fusionrec.data.values import (
    TIMESTAMP_HINT,
    check_ids_as,
    convert_ids,
    id_kind,
    note_padded_ids,
    parse_timestamps,
)
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
    id_kinds: tuple[str, str] | None = None,
    timestamp_format: str | None = None,
    bad_rows: BadRows | None = None,
) -> pd.DataFrame:
    """Select and type-check the interaction columns. A bad cell is an error naming it, or,
    with ``bad_rows``, its row is skipped and recorded there. ``id_kinds`` (user, item):
    convert ids to "int"/"str" (see ``fusionrec.data.values``); None keeps them as read."""
    wanted = [c for c in (user, item, rating, timestamp, label) if c]
    require_columns(frame, wanted, path)
    out = pd.DataFrame(index=frame.index)
    checks: list[Check] = []
    for name, col, kind in ((user, "user_id", 0), (item, "item_id", 1)):
        if id_kinds is None:
            out[col], empty = frame[name].to_numpy(), frame[name].isna().to_numpy()
            checks.append((name, empty, f"empty {col}", _EMPTY_ID_HINT))
        else:
            note_padded_ids(frame[name], path, name)
            out[col], bad = convert_ids(frame[name], id_kinds[kind])
            empty = convert_ids(frame[name], "str")[1]
            checks.append((name, empty, f"empty {col}", _EMPTY_ID_HINT))
            checks.append((name, bad & ~empty, f"expected an integer {col}", _INT_ID_HINT))
    if rating:
        values, bad = parse_numeric(frame[rating])
        out[RATING] = np.where(bad, 0, values).astype(np.float32)
        checks.append((rating, bad, "expected a number", None))
    if timestamp:
        out[TIMESTAMP], bad = parse_timestamps(frame[timestamp], timestamp_format)
        checks.append((timestamp, bad, "expected a timestamp", TIMESTAMP_HINT))
    if label:
        values, bad = parse_numeric(frame[label])
        bad = bad | ~np.isin(values, (0, 1, 2))
        out[LABEL] = np.where(bad, 0, values).astype(np.int8)
        message = "split label must be 0 (train), 1 (valid) or 2 (test)"
        checks.append((label, bad, message, None))
    keep = check_rows(frame, path, checks, bad_rows, header_lines)
    return out[keep].reset_index(drop=True)


#: (column, bad-row mask, message, hint) of one cell check.
Check = tuple[str, np.ndarray, str, str | None]
_EMPTY_ID_HINT = "Every interaction needs a user and an item"
_INT_ID_HINT = "Set dataset.ids_as: str (or auto) to keep such ids as text"


def check_rows(
    frame: pd.DataFrame,
    path: Path,
    checks: list[Check],
    bad_rows: BadRows | None,
    header_lines: int = 1,
) -> np.ndarray:
    """Rows passing every check. Without ``bad_rows`` the first failing cell is an error;
    with it, failing rows are recorded (first reason each) and left out."""
    keep = np.ones(len(frame), dtype=bool)
    for column, bad, message, hint in checks:
        if not bad.any():
            continue
        if bad_rows is None:
            raise cell_error(frame, column, path, bad, message, header_lines, hint or _FIX_HINT)
        lines = row_lines(frame, header_lines)
        for pos in np.flatnonzero(bad & keep):
            shown = len(bad_rows.rows) < SHOWN_BAD_ROWS
            cells = frame.iloc[pos].tolist() if shown else []
            content = ",".join("" if pd.isna(v) else str(v) for v in cells)
            bad_rows.add(int(lines[pos]), content, f"{column}: {message}")
        keep &= ~bad
    return keep


_FIX_HINT = "Fix or remove that row, or set dataset.on_bad_rows: skip to skip such rows"


def _resolve_duplicate_rows(
    table: pd.DataFrame, path: Path, log_lines: list[str], kind: str = "item"
) -> pd.DataFrame:
    """Keep the first row of each repeated ``<kind>_id`` and say which ids were repeated.

    Every id must map to one index, so repeats cannot stay; a warning (also kept in
    ``log_lines``) names them and whether the repeats differ, since a differing repeat means
    content was lost."""
    col = f"{kind}_id"
    dup = table[col].duplicated(keep="first")
    if not dup.any():
        return table
    ids = sorted(pd.unique(table.loc[dup, col]).tolist())
    repeated = table[table[col].isin(ids)]
    # JSON-lines cells may hold lists or dicts, which drop_duplicates cannot hash
    groups = repeated.map(_hashable).groupby(repeated[col].to_numpy(), sort=False)
    differing = [k for k, g in groups if len(g.drop_duplicates()) > 1]
    msg = (
        f"{path}: {int(dup.sum())} duplicate {kind} rows for {len(ids)} {kind} ids resolved by "
        f"keeping the first row of each: ids {ids}"
    )
    if differing:
        msg += f"; rows differ in content for ids {differing}"
    else:
        msg += " (the repeated rows are identical)"
    log.warning(msg)
    log_lines.append(msg)
    return table.loc[~dup].reset_index(drop=True)


def _hashable(value: Any) -> Any:
    """A hashable stand-in for a cell, equal for equal lists/dicts/arrays."""
    if isinstance(value, dict):
        return ("dict", tuple((k, _hashable(v)) for k, v in sorted(value.items(), key=str)))
    if isinstance(value, list | tuple | np.ndarray):
        return ("list", tuple(_hashable(v) for v in value))
    return value


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
    image_pattern: str | None = None,
    audio_pattern: str | None = None,
    item_text_tables: list[dict[str, str]] | None = None,
    encoding: str = "utf-8",
    timestamp_format: str | None = None,
    ids_as: str = "auto",
    on_bad_rows: str = "error",
) -> Dataset:
    """Interactions from any table format plus optional item and user tables.

    ``columns`` maps ``user``/``item``/``rating``/``timestamp``/``label`` to the file's column
    names (defaults: user_id, item_id; rating/timestamp/label only when present). The item
    and user tables use the same id column names as the interactions (or ``item_id`` /
    ``user_id``; ``item_columns`` overrides them). ``image_pattern`` / ``audio_pattern`` and
    ``item_text_tables`` ({path, column} each) are described in ``fusionrec.data.content``.
    See ``fusionrec.data.values`` for
    ``ids_as`` and ``timestamp_format``, ``fusionrec.data.tables`` for ``on_bad_rows``.
    """
    path = Path(path)
    check_policy(on_bad_rows)
    check_ids_as(ids_as)
    cols = {"user": "user_id", "item": "item_id"} | (columns or {})
    unknown = set(cols) - {"user", "item", "rating", "timestamp", "label"}
    if unknown:
        raise DataError(
            f"unknown dataset.columns key(s) {sorted(unknown)}",
            hint="Use user, item, rating, timestamp, label",
        )
    paths = {"items": items_path, "users": users_path}
    paths = {k: Path(v) for k, v in paths.items() if v is not None}
    bad = {p: BadRows(p) if on_bad_rows == "skip" else None for p in (path, *paths.values())}
    options = {"sep": sep, "encoding": encoding}
    frame = read_table(
        path, fmt, **options, str_columns=[cols["user"], cols["item"]], bad_rows=bad[path]
    )
    for optional in ("rating", "timestamp", "label"):
        if optional not in cols and optional in frame.columns:
            cols[optional] = optional
    require_columns(frame, [c for c in cols.values() if c], path)
    tables = {
        kind: _read_id_table(
            p, kind[:-1], (item_columns or {}).get(kind[:-1]), cols, options, bad[p]
        )
        for kind, p in paths.items()
    }
    kinds = tuple(
        id_kind(
            [frame[cols[k]], *([tables[f"{k}s"][f"{k}_id"]] if f"{k}s" in tables else [])], ids_as
        )
        for k in ("user", "item")
    )
    inter = _interactions(
        frame,
        path,
        user=cols["user"],
        item=cols["item"],
        rating=cols.get("rating"),
        timestamp=cols.get("timestamp"),
        label=cols.get("label"),
        id_kinds=kinds,
        timestamp_format=timestamp_format,
        bad_rows=bad[path],
    )
    log_lines: list[str] = []
    items = None
    if "items" in tables:
        items_path = paths["items"]
        items = _convert_table_ids(
            tables["items"], "item_id", kinds[1], items_path, bad[items_path]
        )
        items = _resolve_duplicate_rows(items, items_path, log_lines, "item")
    elif image_pattern or audio_pattern or item_text_tables:
        items = pd.DataFrame({"item_id": pd.unique(inter["item_id"])})
    text_fields = list(text_fields or [])
    # one record per table read, so a file read twice (also as items_path) counts each read
    skipped = list(bad.values())
    for spec in item_text_tables or []:
        spec_path = Path(spec["path"])
        skipped.append(BadRows(spec_path) if on_bad_rows == "skip" else None)
        extra = _read_id_table(spec_path, "item", None, cols, options, skipped[-1])
        extra = _convert_table_ids(extra, "item_id", kinds[1], spec_path, skipped[-1])
        items = join_texts(items, extra, spec.get("column", ""), spec_path)
        text_fields.append(spec["column"])
    if items is not None:
        where = paths.get("items", path)
        require_columns(items, text_fields, where, "dataset.text_fields must name item columns")
        if media_dir and not Path(media_dir).is_dir():
            raise DataError(
                "dataset.media_dir is not a folder",
                path=media_dir,
                hint="Name the folder that holds the image/audio files (relative paths are "
                "read from the working directory), or leave it unset for the item table's",
            )
        base = Path(media_dir) if media_dir else where.parent
        aliases = {cols["item"]: "item_id"} if cols["item"] != "item_id" else {}
        for col, pattern, target in (
            (image_column, image_pattern, "image_path"),
            (audio_column, audio_pattern, "audio_path"),
        ):
            if col:
                hint = "dataset.image_column / audio_column must name item table columns"
                require_columns(items, [col], where, hint)
                items = attach_paths(items, col, base, target, log_lines)
            elif pattern:
                items = pattern_paths(items, pattern, base, target, aliases, log_lines)
    users = None
    if "users" in tables:
        users_path = paths["users"]
        users = _convert_table_ids(
            tables["users"], "user_id", kinds[0], users_path, bad[users_path]
        )
        users = _resolve_duplicate_rows(users, users_path, log_lines, "user")
    for rows in skipped:
        message = rows.summary() if rows is not None else None
        if message:
            log.warning(message)
            log_lines.append(message)
    return build_dataset(
        name or path.stem,
        inter,
        items,
        users,
        text_fields=text_fields,
        image_column="image_path" if image_column or image_pattern else None,
        audio_column="audio_path" if audio_column or audio_pattern else None,
        source={"interactions": str(path), "items": str(items_path) if items_path else None},
        log=log_lines,
    )


def _read_id_table(
    path: Path,
    kind: str,
    explicit: str | None,
    cols: dict[str, str],
    options: dict[str, Any],
    bad_rows: BadRows | None,
) -> pd.DataFrame:
    """Read an item/user table whose id column is ``explicit``, else the column the
    interactions' mapping names (``dataset.columns.<kind>``), else ``<kind>_id``; the
    result calls it ``<kind>_id``."""
    target = f"{kind}_id"
    candidates = [c for c in dict.fromkeys([explicit, cols[kind], target]) if c]
    frame = read_table(path, **options, str_columns=candidates, bad_rows=bad_rows)
    column = next((c for c in candidates if c in frame.columns), candidates[0])
    hint = (
        f"The {kind} table needs an id column named like the interactions' "
        f"(dataset.columns.{kind}: {cols[kind]}) or {target}"
    )
    require_columns(frame, [column], path, hint)
    if column != target:
        frame = frame.drop(columns=[target], errors="ignore").rename(columns={column: target})
    return frame


def _convert_table_ids(
    table: pd.DataFrame, col: str, kind: str, path: Path, bad_rows: BadRows | None
) -> pd.DataFrame:
    """Convert an item/user table's ids to ``kind``; empty or invalid ids are bad rows."""
    note_padded_ids(table[col], path, col)
    ids, bad = convert_ids(table[col], kind)
    keep = check_rows(table, path, [(col, bad, f"empty or invalid {col}", None)], bad_rows)
    return table.assign(**{col: ids})[keep].reset_index(drop=True)


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
    items = _resolve_duplicate_rows(items, items_path, log_lines, "item")
    items["genres"] = _genre_string(items)
    poster_dir = directory / "posters"
    posters = [poster_dir / f"{i}.jpg" for i in items["item_id"]]
    items["image_path"] = [
        str(p) if ok else None for p, ok in zip(posters, existing_files(posters), strict=True)
    ]
    users_path = directory / "users.csv"
    users = None
    if users_path.exists():
        users = read_table(users_path, "csv")
        require_columns(users, ["user_id"], users_path)
        users = _resolve_duplicate_rows(users, users_path, log_lines, "user")
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
    inter["user_id"] = _mmrec_ids(frame, "userID", inter_path)
    inter["item_id"] = _mmrec_ids(frame, "itemID", inter_path)
    n_items = int(inter["item_id"].max()) + 1
    feats = mmrec_features(inter_path.parent, n_items, inter_path)
    for feat_path in feats.values():
        n_items = max(n_items, len(read_npy(feat_path, mmap=True)))
    items = pd.DataFrame({"item_id": np.arange(n_items, dtype=inter["item_id"].dtype)})
    return build_dataset(
        name or inter_path.stem,
        inter,
        items,
        None,
        precomputed=feats,
        source={"interactions": str(inter_path), "format": "mmrec", "features": feats},
    )


def _mmrec_ids(frame: pd.DataFrame, column: str, path: Path) -> pd.Series:
    """The ``userID``/``itemID`` column as int64. MMRec ids are the indices its preprocessing
    maps raw ids to (item i is row i of every ``*_feat.npy``), so anything but a
    non-negative integer means the file is not in that mapped form."""
    values = frame[column]
    if pd.api.types.is_integer_dtype(values) and (values >= 0).all():
        return values
    ids, bad = convert_ids(values, "int")
    bad = bad | (ids.to_numpy() < 0)
    if bad.any():
        raise cell_error(
            frame,
            column,
            path,
            bad,
            "expected a non-negative integer id",
            hint="MMRec .inter ids are integer indices 0..n-1 (item i is row i of the "
            "*_feat.npy files); read a file of raw ids as a generic table instead "
            "(dataset.format: tsv, dataset.columns: {user: userID, item: itemID, "
            "label: x_label})",
        )
    return ids


def mmrec_features(folder: Path, n_items: int, inter_path: Path) -> dict[str, str]:
    """``<modality>_feat.npy`` files of an MMRec folder (image, text, audio ...), each checked
    to have a row for every item id of the interactions (row i is item i)."""
    feats = {}
    for path in sorted(folder.glob("*_feat.npy")):
        rows = len(read_npy(path, mmap=True))
        if rows < n_items:
            raise DataError(
                f"has {rows} rows but {inter_path.name} has item ids up to {n_items - 1}",
                path=path,
                hint="MMRec's row i is item id i: the features must come from the same "
                "MMRec export as the .inter file",
            )
        feats[path.stem.removesuffix("_feat")] = str(path)
    return feats


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
