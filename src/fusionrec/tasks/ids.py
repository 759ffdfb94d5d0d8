"""External ids <-> item/user indices, with errors that name every unknown id."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fusionrec.errors import ConfigError, DataError

#: How many unknown ids an error message lists before "... and N more".
_SHOWN = 10
#: A string that reads as an integer id: ASCII digits only ("--5" and "²" are not ids).
_INTEGER = re.compile(r"\s*-?[0-9]+\s*")


def _key(value: Any, index: dict[Any, int]) -> Any:
    """``value`` as stored in ``index``: "42" finds integer id 42 (ids typed on a command
    line are strings) and 42 finds "42"; an exact match always wins, so "0669361001" stays
    a string id."""
    if value in index:
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value) and int(value) in index:
        return int(value)
    if isinstance(value, int | np.integer) and str(value) in index:
        return str(value)
    return None


def lookup(values: Iterable[Any], index: dict[Any, int], kind: str) -> np.ndarray:
    """Indices of ``values`` (external ids, or one id); a ``DataError`` names every unknown
    one. One id is a list of one: a string is not read as its characters ('12' is not
    ['1', '2'])."""
    values = [values] if isinstance(values, str | bytes | int | np.integer) else list(values)
    keys = [_key(v, index) for v in values]
    unknown = [v for v, k in zip(values, keys, strict=True) if k is None]
    if unknown:
        shown = ", ".join(repr(v) for v in unknown[:_SHOWN])
        more = f" and {len(unknown) - _SHOWN} more" if len(unknown) > _SHOWN else ""
        examples = ", ".join(repr(k) for k in list(index)[:3])
        raise DataError(
            f"unknown {kind} ids: {shown}{more}",
            hint=f"use the dataset's own {kind} ids (e.g. {examples})",
        )
    return np.asarray([index[k] for k in keys], dtype=np.int64)


def check_k(k: Any) -> int:
    """``k`` as the number of items to return: a whole number of at least 1."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ConfigError(f"k must be a whole number of at least 1, got {k!r}")
    return int(k)


def read_pairs(table: pd.DataFrame | str | Path, what: str) -> tuple[pd.DataFrame, str]:
    """A table of ``user_id``, ``item_id`` rows (other columns kept), given as a DataFrame
    (``what`` names it in messages) or a csv/tsv/parquet/jsonl file (ids read as text); a
    clear error naming the missing columns."""
    if isinstance(table, pd.DataFrame):
        frame, where = table.reset_index(drop=True), what
    else:
        from fusionrec.data.tables import read_table

        frame = read_table(table, str_columns=["user_id", "item_id"])
        frame.attrs.clear()  # the reader's line bookkeeping is not part of the table
        where = str(table)
    missing = [c for c in ("user_id", "item_id") if c not in frame.columns]
    if missing:
        raise DataError(
            f"{where}: no {' or '.join(missing)} column (columns: "
            f"{', '.join(map(str, frame.columns))}); name them user_id and item_id"
        )
    return frame, where
