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


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _as_text(values: pd.Series) -> pd.Series:
    """Id cells as strings without surrounding spaces (``" c13"`` is user ``c13``, not a
    new one); integral floats (a numeric column with gaps) lose their '.0'."""
    if pd.api.types.is_float_dtype(values):
        values = _float_ids(values)
    return values.astype("string").str.strip().astype(object).where(values.notna(), None)


def _float_ids(values: pd.Series) -> pd.Series:
    """A float column of ids as integers when every id is whole and fits int64 (the usual
    case: integer ids with gaps, or JSON's ``3.0``), else as text: ``2.5`` stays ``"2.5"``
    and ``3`` becomes ``"3"``, since rounding or truncating would merge distinct ids."""
    present = values.dropna()
    if present.empty or ((present % 1 == 0).all() and present.abs().max() < 2.0**63):
        return values.astype("Int64")
    return values.map(_float_text, na_action="ignore")


def _float_text(value: float) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def _fit_int64(text: pd.Series) -> np.ndarray:
    """Which integer texts (``-?[0-9]+``) fit int64, compared as text, never through float
    (which rounds beyond 2**53): 19 digits is the only length that needs a comparison."""
    negative = text.str.startswith("-").to_numpy(dtype=bool)
    magnitude = text.str.lstrip("-").str.lstrip("0")
    length = magnitude.str.len().to_numpy()
    fits = length < 19
    edge = np.flatnonzero(length == 19)
    if len(edge):
        limit = np.where(negative[edge], str(-_INT64_MIN), str(_INT64_MAX))
        # equal lengths and no leading zeros: text order is number order
        fits[edge] = magnitude.to_numpy(dtype=object)[edge].astype(str) <= limit
    return fits


def id_kind(columns: list[pd.Series], ids_as: str = "auto") -> str:
    """``"int"`` or ``"str"``: one kind for every column holding the same ids. Ids that
    look like integers but do not fit int64 make the ids text: converting them would wrap
    them around or round them, merging distinct ids."""
    check_ids_as(ids_as)
    if ids_as != "auto":
        return ids_as
    for values in columns:
        values = values.dropna()
        if pd.api.types.is_integer_dtype(values):
            if values.empty or values.max() <= _INT64_MAX:  # uint64 may hold larger ones
                continue
            return "str"
        text = _as_text(values)
        if not text.str.fullmatch(_PLAIN_INT).all() or not _fit_int64(text).all():
            return "str"
    return "int"


def convert_ids(values: pd.Series, kind: str) -> tuple[pd.Series, np.ndarray]:
    """Ids of ``kind`` and a mask of cells that are empty or (for ``int``) not integers
    that fit int64."""
    text = _as_text(values)  # already stripped
    empty = text.isna() | (text == "")
    if kind == "str":
        return text, empty.to_numpy()
    bad = empty | ~text.fillna("").str.fullmatch(r"-?[0-9]+")
    bad[~bad] = ~_fit_int64(text[~bad])
    # parsed from the text of the good cells only: a float step (NaN for the bad ones)
    # would round ids beyond 2**53 into each other
    ints = pd.Series(np.full(len(text), -1, dtype=np.int64), index=text.index)
    if (~bad).any():
        ints[~bad] = pd.to_numeric(text[~bad]).to_numpy().astype(np.int64)
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
