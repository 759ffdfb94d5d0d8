"""Parsing of id and timestamp cells, shared by every reader.

Ids: ``ids_as="auto"`` keeps ids as strings unless every id of that kind (across the
interactions and the item/user table) is a plain integer without a leading zero, so
``0669361001`` stays ``"0669361001"`` from the reader to ``split.parquet``; ``"str"`` and
``"int"`` force one kind.

Timestamps: numbers (unix seconds), ISO dates/datetimes (``2018-09-20``,
``2018-09-20T13:45:00+02:00``) or any format given as ``timestamp_format`` (strftime codes);
dates become unix seconds (UTC; dates without a zone are read as UTC).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from fusionrec.errors import DataError

log = logging.getLogger(__name__)

ID_KINDS = ("auto", "str", "int")
_PLAIN_INT = r"^(?:0|-?[1-9][0-9]*)$"


def check_ids_as(ids_as: str) -> None:
    if ids_as not in ID_KINDS:
        raise DataError(f"dataset.ids_as must be one of {list(ID_KINDS)}, got {ids_as!r}")


def _as_text(values: pd.Series) -> pd.Series:
    """Id cells as strings without surrounding spaces (``" c13"`` is user ``c13``, not a
    new one); integral floats (a numeric column with gaps) lose their '.0'."""
    if pd.api.types.is_float_dtype(values):
        values = values.astype("Int64")
    return values.astype("string").str.strip().astype(object).where(values.notna(), None)


def id_kind(columns: list[pd.Series], ids_as: str = "auto") -> str:
    """``"int"`` or ``"str"``: one kind for every column holding the same ids."""
    check_ids_as(ids_as)
    if ids_as != "auto":
        return ids_as
    for values in columns:
        values = values.dropna()
        if pd.api.types.is_integer_dtype(values):
            continue
        if not _as_text(values).str.fullmatch(_PLAIN_INT).all():
            return "str"
    return "int"


def convert_ids(values: pd.Series, kind: str) -> tuple[pd.Series, np.ndarray]:
    """Ids of ``kind`` and a mask of cells that are empty or (for ``int``) not integers."""
    text = _as_text(values)  # already stripped
    empty = text.isna() | (text == "")
    if kind == "str":
        return text, empty.to_numpy()
    bad = empty | ~text.fillna("").str.fullmatch(r"-?[0-9]+")
    ints = pd.to_numeric(text.where(~bad, None), errors="coerce").fillna(-1).astype(np.int64)
    return ints, bad.to_numpy()


def note_padded_ids(values: pd.Series, path: object, column: str) -> None:
    """Warn, naming the file and column, when ids carry spaces that reading removes, so a
    user sees that ``" c13"`` and ``"c13"`` were taken as one id."""
    if not (values.dtype == object or pd.api.types.is_string_dtype(values)):
        return
    raw = values.astype("string")
    padded = (raw.notna() & (raw != raw.str.strip())).to_numpy()
    if padded.any():
        log.warning(
            "%s, column %r: %d ids have spaces around them (e.g. %r); they are read without them",
            path,
            column,
            int(padded.sum()),
            str(raw[padded].iloc[0]),
        )


def parse_timestamps(raw: pd.Series, fmt: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(unix seconds int64, bad mask). Numbers are taken as unix seconds; other cells are
    dates in ``fmt`` (strftime) or ISO 8601 when ``fmt`` is None."""
    if pd.api.types.is_datetime64_any_dtype(raw):
        return _unix_seconds(raw), raw.isna().to_numpy()
    if fmt is None:
        numbers = pd.to_numeric(raw, errors="coerce")
        if numbers.notna().all():
            return numbers.to_numpy().astype(np.int64), np.zeros(len(raw), bool)
    text = raw.astype("string")
    dates = pd.to_datetime(text, format=fmt or "ISO8601", errors="coerce", utc=True)
    bad = dates.isna().to_numpy()
    if fmt is None:  # a column mixing unix seconds and ISO dates is still readable
        numbers = pd.to_numeric(raw, errors="coerce")
        seconds = np.where(bad, numbers.fillna(0).to_numpy(), 0).astype(np.int64)
        seconds[~bad] = _unix_seconds(dates[~bad])
        return seconds, (bad & numbers.isna().to_numpy())
    seconds = np.zeros(len(raw), np.int64)
    seconds[~bad] = _unix_seconds(dates[~bad])
    return seconds, bad


def _unix_seconds(dates: pd.Series) -> np.ndarray:
    if getattr(dates.dt, "tz", None) is None:
        dates = dates.dt.tz_localize("UTC")
    since = dates - pd.Timestamp(0, tz="UTC")
    return (since // pd.Timedelta(seconds=1)).to_numpy().astype(np.int64)


TIMESTAMP_HINT = (
    "Use unix seconds or ISO dates (2018-09-20, 2018-09-20T13:45:00), or set "
    "dataset.timestamp_format to the column's strftime format (e.g. '%d/%m/%Y %H:%M')"
)
