"""Reading tabular files with errors that point at the file, line and column.

Every reader in fusionrec goes through ``read_table`` and ``require_columns`` /
``numeric_column`` so a bad file fails the same clear way whatever its format.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fusionrec.errors import DataError

FORMATS = {".csv": "csv", ".tsv": "tsv", ".inter": "tsv", ".parquet": "parquet", ".pq": "parquet"}
FORMATS |= {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".gz": "jsonl"}


def detect_format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    for suffix in reversed(suffixes):
        if suffix in FORMATS and suffix != ".gz":
            return FORMATS[suffix]
    if suffixes and suffixes[-1] == ".gz":
        return "jsonl"
    raise DataError(
        "cannot tell the file format from its name",
        path=path,
        hint="Set 'format' to one of csv, tsv, parquet, jsonl in the dataset config",
    )


def read_table(
    path: str | Path,
    fmt: str | None = None,
    *,
    sep: str | None = None,
    header: bool = True,
    names: list[str] | None = None,
    encoding: str = "utf-8",
) -> pd.DataFrame:
    """Read a CSV/TSV/Parquet/JSON-lines file into a DataFrame with string-safe dtypes."""
    path = Path(path)
    if not path.exists():
        raise DataError("file does not exist", path=path, hint="Check the dataset path")
    if path.is_dir():
        raise DataError("expected a file but found a directory", path=path)
    fmt = (fmt or detect_format(path)).lower()
    try:
        if fmt in ("csv", "tsv"):
            delimiter = sep if sep is not None else ("," if fmt == "csv" else "\t")
            return pd.read_csv(
                path,
                sep=delimiter,
                header=0 if header else None,
                names=names,
                encoding=encoding,
                engine="c" if len(delimiter) == 1 else "python",
                dtype=str if names is None and not header else None,
            )
        if fmt == "parquet":
            return pd.read_parquet(path)
        if fmt == "jsonl":
            return pd.read_json(path, lines=True, compression="infer")
    except (pd.errors.ParserError, ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"could not parse as {fmt}: {exc}", path=path) from exc
    raise DataError(f"unknown format '{fmt}'", path=path, hint="Use csv, tsv, parquet or jsonl")


def require_columns(frame: pd.DataFrame, columns: list[str], path: str | Path) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"missing column(s) {missing}; found {list(frame.columns)}",
            path=path,
            line=1,
            hint="Map your column names in the dataset config (columns: {user: ..., item: ...})",
        )


def numeric_column(
    frame: pd.DataFrame, column: str, path: str | Path, *, header_lines: int = 1
) -> np.ndarray:
    """Parse ``column`` as numbers; the first non-numeric cell is reported by line number."""
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() & raw.notna()
    bad |= raw.isna()
    if bad.any():
        pos = int(np.flatnonzero(bad.to_numpy())[0])
        cell = raw.iloc[pos]
        raise DataError(
            f"expected a number, found {cell!r}",
            path=path,
            line=pos + 1 + header_lines,
            column=column,
            hint="Fix or remove that row",
        )
    return values.to_numpy()
