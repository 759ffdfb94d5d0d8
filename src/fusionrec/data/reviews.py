"""Review data for sentiment tasks: text, star rating, reviewer and item, from any review set.

Three formats, told apart by the file name (or ``fmt``), each optionally compressed (``.gz``,
``.bz2``, ``.xz``):

- JSON lines (``.json``, ``.jsonl``, ``.ndjson``): one object per line, e.g. the Amazon Review
  Data 2018 dumps; fields are mapped with ``ReviewColumns`` (defaults are Amazon's names);
- CSV (``.csv``) with a header row, mapped the same way;
- ``sentence<TAB>label`` (``.tsv``, ``.txt``): no reviewer or item; the label is ``negative``,
  ``neutral``, ``positive`` or a star rating 1-5. A first line whose label is ``label`` or
  ``sentiment`` is a header.

Stdlib ``json``/``csv`` parse the rows (not pandas) so an error names the exact line and
ids stay the strings they are in the file ("0669361001" keeps its leading zero).

Cleaning, always reported, never silent, in this order:

1. rows without text cannot be classified and are dropped;
2. duplicates: rows identical in (text, rating, reviewer, item) are kept once;
3. copies: one reviewer's same text and rating under several items is one review that the
   source listed once per item. Amazon's 5-core dumps do this for listings of one product
   (sizes, colours): in the fashion set 3,071 rows hold only 445 distinct reviews, most
   copied onto 8 listings. Left in, any random split puts copies of a test review in the
   training data and every score is inflated (a TF-IDF model reaches 0.97 macro-F1). So each
   review is kept once, and items that share a copied review are merged into one product
   (connected components), named by their smallest id, so item context pools all listings.
   ``merge_copies=False`` keeps the rows (for data where such repeats are distinct reviews).

Sentiment from stars: the nearest star 1-2 is negative, 3 neutral, 4-5 positive
(2.5 -> neutral, 3.5 -> positive).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from fusionrec.data.tables import COMPRESSED, DECOMPRESSION_ERRORS, open_text
from fusionrec.errors import DataError

log = logging.getLogger(__name__)

#: Sentiment classes, in the order of class indices everywhere in fusionrec.
SENTIMENT_CLASSES = ("negative", "neutral", "positive")

#: Where the team's Amazon fashion reviews live under a data root (see the data README).
FASHION_REVIEWS = "amazon-fashion-reviews/AMAZON_FASHION_5.json.gz"

_SUFFIXES = {".json": "jsonl", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
_SUFFIXES |= {".tsv": "tsv", ".txt": "tsv"}
_HEADER_LABELS = {"label", "sentiment"}
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class ReviewColumns:
    """Field names in the source file; ``None`` for a reviewer or item field it lacks."""

    text: str = "reviewText"
    rating: str = "overall"
    user: str | None = "reviewerID"
    item: str | None = "asin"


@dataclass
class ReviewsReport:
    """What reading and cleaning did, for logs, manifests and result tables."""

    path: str
    format: str
    rows: int = 0
    duplicates: int = 0
    no_text: int = 0
    copies: int = 0
    items: int = 0
    products: int = 0
    kept: int = 0
    labels: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        counts = ", ".join(f"{k} {v:,}" for k, v in self.labels.items())
        return (
            f"{self.path}: {self.rows:,} rows; {self.no_text:,} without text dropped; "
            f"{self.duplicates:,} duplicate rows kept once; {self.copies:,} copies of a review "
            f"under another item kept once ({self.items:,} items -> {self.products:,} "
            f"products); {self.kept:,} reviews ({counts})"
        )


@dataclass
class Reviews:
    """Cleaned reviews: ``frame`` has columns text, rating (NaN when only a label was given),
    label (class index into ``SENTIMENT_CLASSES``), user, item (str or None), line (source).
    ``item_aliases`` maps each listing merged into another (copies of one product's reviews)
    to the id ``frame`` calls its product, so a model can read either id."""

    frame: pd.DataFrame
    report: ReviewsReport
    item_aliases: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def labels(self) -> np.ndarray:
        return self.frame["label"].to_numpy(dtype=np.int64)

    @property
    def texts(self) -> list[str]:
        return self.frame["text"].tolist()


def rating_to_label(ratings: np.ndarray) -> np.ndarray:
    """Class index per star rating: < 2.5 negative (0), < 3.5 neutral (1), else positive (2)."""
    return np.digitize(np.asarray(ratings, dtype=float), [2.5, 3.5]).astype(np.int64)


def detect_review_format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSED:
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in _SUFFIXES:
        return _SUFFIXES[suffixes[-1]]
    raise DataError(
        "cannot tell the review file format from its name",
        path=path,
        hint="Name it .jsonl/.json, .csv or .tsv/.txt (optionally .gz/.bz2/.xz), or pass the "
        "format (jsonl, csv, tsv)",
    )


def _json_rows(path: Path, fh: io.TextIOBase) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(fh, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"not valid JSON ({exc.msg} at character {exc.colno})",
                path=path,
                line=number,
                hint="Review JSON files hold one object per line (JSON lines)",
            ) from None
        if not isinstance(row, dict):
            raise DataError(
                f"expected a JSON object, found {type(row).__name__}",
                path=path,
                line=number,
                hint="Review JSON files hold one object per line (JSON lines), not an array",
            )
        yield number, row


def _csv_rows(path: Path, fh: io.TextIOBase) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(fh)
    try:
        for row in reader:
            # the line the row starts on: where the reader stands, less the line breaks
            # inside its quoted fields (blank lines before it were skipped and counted)
            cells = [v for k, v in row.items() if k is not None] + list(row.get(None) or [])
            start = reader.line_num - sum(
                len(_LINE_BREAK.findall(c)) for c in cells if isinstance(c, str)
            )
            if None in row:
                raise DataError(
                    f"{len(row[None]) + len(reader.fieldnames or [])} fields, the header has "
                    f"{len(reader.fieldnames or [])}",
                    path=path,
                    line=start,
                    hint="Quote fields that contain commas",
                )
            yield start, row
    except csv.Error as exc:
        raise DataError(f"not valid CSV: {exc}", path=path, line=reader.line_num) from None


def _tsv_rows(path: Path, fh: io.TextIOBase) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(fh, start=1):
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        if "\t" not in line:
            raise DataError(
                "expected 'sentence<TAB>label', found no tab",
                path=path,
                line=number,
                hint="Separate the sentence from its label with one tab character",
            )
        text, label = line.rsplit("\t", 1)
        if number == 1 and label.strip().lower() in _HEADER_LABELS:
            continue
        yield number, {"text": text, "label": label}


def _text(value: Any, path: Path, line: int, column: str) -> str:
    """A review's text; a JSON number, true/false, list or object there is a mapping mistake
    (the rating's field named as the text, say), not a review to classify."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DataError(
            f"expected the review text, found {type(value).__name__} {value!r:.60}",
            path=path,
            line=line,
            column=column,
            hint="Map the field that holds the review's words as the text (see docs/sentiment.md)",
        )
    return value


def _rating(value: Any, path: Path, line: int, column: str) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise DataError(
            "missing rating",
            path=path,
            line=line,
            column=column,
            hint="Every review needs a star rating 1-5 to be labelled; fix or remove that row",
        )
    try:  # a JSON true is not a star: float(True) would read it as 1
        rating = float("nan") if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        rating = float("nan")
    if not 1.0 <= rating <= 5.0:  # also catches NaN
        raise DataError(
            f"expected a star rating from 1 to 5, found {value!r}",
            path=path,
            line=line,
            column=column,
            hint="Fix that row, or map the right field as the rating",
        )
    return rating


def _tsv_label(value: str, path: Path, line: int) -> tuple[float, int]:
    """(rating or NaN, class index) from a label cell: a class name or a star rating."""
    name = value.strip().lower()
    if name in SENTIMENT_CLASSES:
        return float("nan"), SENTIMENT_CLASSES.index(name)
    try:
        rating = float(name)
    except ValueError:
        rating = float("nan")
    if not 1.0 <= rating <= 5.0:
        raise DataError(
            f"unknown label {value!r}",
            path=path,
            line=line,
            hint=f"Use one of {', '.join(SENTIMENT_CLASSES)} or a star rating 1-5",
        )
    return rating, int(rating_to_label(np.array([rating]))[0])


def _id(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return str(value).strip()


def _check_columns(
    path: Path, seen: set[str], columns: ReviewColumns, roles: tuple[str, ...]
) -> None:
    """A mapped field absent from every row is a mapping mistake, not missing data."""
    for role in roles:
        name = getattr(columns, role)
        if name is not None and name not in seen:
            raise DataError(
                f"no {role} field {name!r} in any row; fields found: {sorted(seen)}",
                path=path,
                column=name,
                hint=f"Map the {role} field (--{role}-col on the command line)"
                + ("; '-' means the file has none" if role in ("user", "item") else ""),
            )


def read_reviews(
    path: str | Path,
    columns: ReviewColumns | None = None,
    fmt: str | None = None,
    merge_copies: bool = True,
) -> Reviews:
    """Read, de-duplicate and label a review file; counts of what was dropped are logged."""
    path = Path(path)
    if not path.is_file():
        raise DataError(
            "review file does not exist" if not path.exists() else "expected a file",
            path=path,
        )
    fmt = fmt or detect_review_format(path)
    if fmt not in ("jsonl", "csv", "tsv"):
        raise DataError(f"unknown review format {fmt!r}", path=path, hint="Use jsonl, csv or tsv")
    columns = columns or ReviewColumns()
    records: list[tuple[int, str, float, int, str | None, str | None]] = []
    report = ReviewsReport(path=str(path), format=fmt)
    seen: set[str] = set()
    # utf-8-sig: a file saved as "CSV UTF-8" by a spreadsheet starts with a byte-order mark
    # that would otherwise become part of the first field's name
    with open_text(path, "utf-8-sig", errors="strict") as fh:
        try:
            if fmt == "tsv":
                for line, row in _tsv_rows(path, fh):
                    report.rows += 1
                    rating, label = _tsv_label(row["label"], path, line)
                    records.append((line, row["text"], rating, label, None, None))
            else:
                rows = _json_rows(path, fh) if fmt == "jsonl" else _csv_rows(path, fh)
                for line, row in rows:
                    report.rows += 1
                    seen.update(row)
                    if report.rows == 1:  # every row needs a rating: check the mapping now
                        _check_columns(path, seen, columns, ("rating",))
                    rating = _rating(row.get(columns.rating), path, line, columns.rating)
                    text = _text(row.get(columns.text), path, line, columns.text)
                    user = _id(row.get(columns.user)) if columns.user else None
                    item = _id(row.get(columns.item)) if columns.item else None
                    records.append((line, text, rating, -1, user, item))
        except (UnicodeDecodeError, *DECOMPRESSION_ERRORS) as exc:
            raise DataError(f"cannot read the file: {exc}", path=path) from None
    if fmt != "tsv" and records:
        _check_columns(path, seen, columns, ("text", "user", "item"))
    frame = pd.DataFrame(records, columns=["line", "text", "rating", "label", "user", "item"])
    if fmt != "tsv":
        frame["label"] = rating_to_label(frame["rating"].to_numpy())
    return _clean(frame, report, merge_copies)


def _merge_copies(
    frame: pd.DataFrame, report: ReviewsReport
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Keep one row per (reviewer, text, rating); items sharing a review become one product,
    named by its smallest id; also returns the other listings' ids -> that name."""
    has_user = frame["user"].notna().to_numpy()
    review = frame[["user", "text", "rating"]].astype(str).apply(tuple, axis=1)
    review_code = pd.factorize(review)[0]
    item = frame["item"].fillna("").astype(str)
    item_code, item_ids = pd.factorize(item)
    n_items = len(item_ids)
    linked = has_user & (item != "").to_numpy()
    # bipartite graph: item i -- review r; components = items linked by shared reviews
    graph = sp.coo_matrix(
        (np.ones(linked.sum()), (item_code[linked], n_items + review_code[linked])),
        shape=(n_items + review_code.max() + 1,) * 2,
    )
    _, component = connected_components(graph, directed=False)
    names = pd.Series(item_ids).groupby(component[:n_items]).transform("min").to_numpy()
    frame = frame.assign(item=np.where(item == "", None, names[item_code]))
    copies = pd.Series(review_code).duplicated().to_numpy() & has_user
    report.copies = int(copies.sum())
    report.items = int((item_ids != "").sum())
    report.products = int(pd.Series(names[item_ids != ""]).nunique())
    aliases = {str(a): str(b) for a, b in zip(item_ids, names, strict=True) if a != b and a != ""}
    return frame[~copies], aliases


def _clean(frame: pd.DataFrame, report: ReviewsReport, merge_copies: bool) -> Reviews:
    has_text = frame["text"].str.strip().str.len() > 0
    report.no_text = int((~has_text).sum())
    frame = frame[has_text]
    if not len(frame):
        raise DataError(
            f"no review has text ({report.no_text} rows without any)"
            if report.no_text
            else "the file holds no reviews",
            path=report.path,
            hint="Check the review text column (see docs/sentiment.md)",
        )
    key = frame[["text", "rating", "label", "user", "item"]].astype(str)
    duplicated = key.duplicated(keep="first").to_numpy()
    report.duplicates = int(duplicated.sum())
    frame = frame[~duplicated]
    aliases: dict[str, str] = {}
    if merge_copies:
        frame, aliases = _merge_copies(frame, report)
    frame = frame.reset_index(drop=True)
    report.kept = len(frame)
    counts = np.bincount(frame["label"].to_numpy(dtype=np.int64), minlength=3)
    report.labels = dict(zip(SENTIMENT_CLASSES, counts.tolist(), strict=True))
    log.info("reviews %s", report.summary())
    if not len(frame):
        raise DataError("no review with text left after cleaning", path=report.path)
    return Reviews(frame, report, aliases)


def default_reviews_path() -> Path:
    """The team's Amazon fashion reviews, searched in the data roots of named datasets."""
    from fusionrec.data.registry import data_roots

    tried = []
    for root in data_roots():
        candidate = (root / FASHION_REVIEWS).resolve()
        tried.append(str(candidate))
        if candidate.is_file():
            return candidate
    raise DataError(
        f"the default review set {FASHION_REVIEWS} was not found; looked in {tried}",
        hint="Set $FUSIONREC_DATA to the folder that holds amazon-fashion-reviews, or give a "
        "review file",
    )
