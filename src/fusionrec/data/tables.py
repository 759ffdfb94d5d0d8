"""Reading tabular files with errors that point at the file, line and column.

Every reader in fusionrec goes through ``read_table`` and ``require_columns`` /
``numeric_column`` so a bad file fails the same clear way whatever its format.

Rows that cannot be used (a line with too many fields, a non-numeric rating, an empty id)
stop loading by default (``on_bad_rows="error"``). With ``on_bad_rows="skip"`` they are
dropped and recorded in a ``BadRows`` log (count, then the first few lines with their
content), so nothing disappears silently.
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fusionrec.errors import DataError

log = logging.getLogger(__name__)

FORMATS = {".csv": "csv", ".tsv": "tsv", ".inter": "tsv", ".parquet": "parquet", ".pq": "parquet"}
FORMATS |= {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".gz": "jsonl"}
BAD_ROW_POLICIES = ("error", "skip")
#: How many skipped rows the log shows one by one (all are counted).
SHOWN_BAD_ROWS = 5
_SKIPPED_LINE = re.compile(r"Skipping line (\d+): (.*)")
_FIELD_COUNT = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_BAD_ROWS_HINT = "Fix or remove that row, or set dataset.on_bad_rows: skip to skip such rows"


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


@dataclass
class BadRows:
    """The rows skipped from one file under ``on_bad_rows="skip"``: (line, content, reason)."""

    path: Path
    rows: list[tuple[int, str, str]] = field(default_factory=list)

    def add(self, line: int, content: str, reason: str) -> None:
        self.rows.append((line, content, reason))

    def summary(self) -> str | None:
        """One log line: how many rows were skipped and the first few of them."""
        if not self.rows:
            return None
        rows = sorted(self.rows)
        shown = "; ".join(f"line {n}: {c!r} ({why})" for n, c, why in rows[:SHOWN_BAD_ROWS])
        more = f"; ... {len(rows) - SHOWN_BAD_ROWS} more" if len(rows) > SHOWN_BAD_ROWS else ""
        return f"{self.path}: skipped {len(rows)} bad rows (on_bad_rows: skip): {shown}{more}"


def check_policy(on_bad_rows: str) -> None:
    if on_bad_rows not in BAD_ROW_POLICIES:
        raise DataError(
            f"dataset.on_bad_rows must be one of {list(BAD_ROW_POLICIES)}, got {on_bad_rows!r}"
        )


def read_table(
    path: str | Path,
    fmt: str | None = None,
    *,
    sep: str | None = None,
    header: bool = True,
    names: list[str] | None = None,
    encoding: str = "utf-8",
    str_columns: list[str] | None = None,
    bad_rows: BadRows | None = None,
) -> pd.DataFrame:
    """Read a CSV/TSV/Parquet/JSON-lines file into a DataFrame.

    ``str_columns`` are read as text (ids such as ``0669361001`` keep their leading zero).
    With ``bad_rows`` given, CSV lines with the wrong number of fields are skipped and
    recorded there; without it they are an error naming the line. ``frame.attrs["lines"]``
    holds each row's 1-based line number in the file (the header is line 1).
    """
    path = Path(path)
    if not path.exists():
        raise DataError("file does not exist", path=path, hint="Check the dataset path")
    if path.is_dir():
        raise DataError("expected a file but found a directory", path=path)
    if path.stat().st_size == 0:
        raise DataError("the file is empty (0 bytes)", path=path, hint="Check the export")
    fmt = (fmt or detect_format(path)).lower()
    if fmt not in ("csv", "tsv", "parquet", "jsonl"):
        raise DataError(f"unknown format '{fmt}'", path=path, hint="Use csv, tsv, parquet or jsonl")
    header_lines = 1 if header and fmt in ("csv", "tsv") else 0
    skipped: list[int] = []
    try:
        if fmt in ("csv", "tsv"):
            frame = _read_delimited(path, fmt, sep, header, names, encoding, str_columns, bad_rows)
            skipped = [n for n, _, _ in bad_rows.rows] if bad_rows is not None else []
        elif fmt == "parquet":
            frame = pd.read_parquet(path)
        else:
            # dtype=False: JSON strings stay strings ("0669361001"), numbers stay numbers.
            frame = pd.read_json(
                path,
                lines=True,
                compression="infer",
                encoding=encoding,
                dtype=False,
                convert_dates=False,
            )
    except UnicodeDecodeError as exc:
        raise _decode_error(path, encoding, exc) from None
    except pd.errors.ParserError as exc:
        match = _FIELD_COUNT.search(str(exc))
        if match:
            expected, line, found = match.groups()
            message = f"expected {expected} fields, found {found}"
            raise DataError(message, path=path, line=int(line), hint=_BAD_ROWS_HINT) from None
        raise DataError(
            f"could not parse as {fmt}: {exc}", path=path, hint=_BAD_ROWS_HINT
        ) from None
    except ValueError as exc:
        raise DataError(f"could not parse as {fmt}: {exc}", path=path) from exc
    if frame.empty and len(frame.columns) and header_lines:
        raise DataError(
            f"the file has a header ({', '.join(map(str, frame.columns))}) but no rows",
            path=path,
            hint="Export the data rows too",
        )
    if frame.empty:
        raise DataError("the file has no rows", path=path)
    frame.attrs["lines"] = _row_lines(len(frame), header_lines, skipped)
    return frame


def _read_delimited(
    path: Path,
    fmt: str,
    sep: str | None,
    header: bool,
    names: list[str] | None,
    encoding: str,
    str_columns: list[str] | None,
    bad_rows: BadRows | None,
) -> pd.DataFrame:
    delimiter = sep if sep is not None else ("," if fmt == "csv" else "\t")
    dtype: object = str if names is None and not header else None
    if str_columns:
        dtype = {c: str for c in str_columns}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pd.errors.ParserWarning)
        frame = pd.read_csv(
            path,
            sep=delimiter,
            header=0 if header else None,
            names=names,
            encoding=encoding,
            engine="c" if len(delimiter) == 1 else "python",
            dtype=dtype,
            on_bad_lines="warn" if bad_rows is not None else "error",
        )
    if bad_rows is not None:
        lines = _skipped_lines(caught)
        if lines:
            content = _line_contents(path, encoding, set(lines))
            for number, reason in lines.items():
                bad_rows.add(number, content.get(number, ""), reason)
    return frame


def _skipped_lines(caught: list[warnings.WarningMessage]) -> dict[int, str]:
    """Line number -> reason from pandas' 'Skipping line N: expected 3 fields, saw 4'."""
    out = {}
    for w in caught:
        for text in str(w.message).splitlines():
            match = _SKIPPED_LINE.match(text.strip())
            if match:
                out[int(match.group(1))] = match.group(2)
    return out


def _line_contents(path: Path, encoding: str, wanted: set[int]) -> dict[int, str]:
    out = {}
    with path.open(encoding=encoding, errors="replace", newline="") as handle:
        for number, text in enumerate(handle, start=1):
            if number in wanted:
                out[number] = text.rstrip("\r\n")
                if len(out) == len(wanted):
                    break
    return out


def _row_lines(n_rows: int, header_lines: int, skipped: list[int]) -> np.ndarray:
    """File line of each row, accounting for the header and the skipped lines."""
    lines = np.arange(n_rows + len(skipped), dtype=np.int64) + 1 + header_lines
    if skipped:
        lines = lines[~np.isin(lines, skipped)]
    return lines[:n_rows]


def row_lines(frame: pd.DataFrame, header_lines: int = 1) -> np.ndarray:
    """Each row's line number in its file (read by ``read_table``, else header + row)."""
    lines = frame.attrs.get("lines")
    if lines is not None and len(lines) == len(frame):
        return np.asarray(lines)
    return np.arange(len(frame), dtype=np.int64) + 1 + header_lines


def _decode_error(path: Path, encoding: str, exc: UnicodeDecodeError) -> DataError:
    """Find the first undecodable byte in the whole file: its line and byte offset."""
    raw = path.read_bytes()
    try:
        raw.decode(encoding)
    except UnicodeDecodeError as full:
        start = full.start
        line = raw.count(b"\n", 0, start) + 1
        return DataError(
            f"byte 0x{raw[start]:02x} at byte offset {start} is not valid {encoding}",
            path=path,
            line=line,
            hint="Set dataset.encoding to the file's encoding (e.g. latin-1 or cp1252)",
        )
    return DataError(f"not valid {encoding}: {exc}", path=path)


def require_columns(
    frame: pd.DataFrame, columns: list[str], path: str | Path, hint: str | None = None
) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing and len(frame.columns) == 1:  # one column: most likely the wrong separator
        header = str(frame.columns[0])
        for char, fmt in (("\t", "tsv"), (",", "csv")):
            if char in header:
                raise DataError(
                    f"missing column(s) {missing}: the header was read as one column "
                    f"{header!r}, which holds {char!r} separators",
                    path=path,
                    line=1,
                    hint=f"The file looks {fmt.upper()}: set dataset.format: {fmt}",
                )
    if missing:
        raise DataError(
            f"missing column(s) {missing}; found {list(frame.columns)}",
            path=path,
            line=1,
            hint=hint
            or "Map your column names in the dataset config, e.g. dataset.columns: "
            f"{{user: {frame.columns[0]}, item: {frame.columns[min(1, len(frame.columns) - 1)]}}}",
        )


def numeric_column(
    frame: pd.DataFrame, column: str, path: str | Path, *, header_lines: int = 1
) -> np.ndarray:
    """Parse ``column`` as numbers; the first non-numeric cell is reported by line number."""
    values, bad = parse_numeric(frame[column])
    if bad.any():
        raise cell_error(frame, column, path, bad, "expected a number", header_lines)
    return values


def parse_numeric(raw: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(values, bad mask): empty and non-numeric cells are bad."""
    values = pd.to_numeric(raw, errors="coerce")
    return values.to_numpy(), (values.isna() | raw.isna()).to_numpy()


def cell_error(
    frame: pd.DataFrame,
    column: str,
    path: str | Path,
    bad: np.ndarray,
    message: str,
    header_lines: int = 1,
    hint: str = _BAD_ROWS_HINT,
) -> DataError:
    """The error for the first bad cell of ``column``: file, line, column and the value."""
    pos = int(np.flatnonzero(bad)[0])
    value = frame[column].iloc[pos]
    value = value.item() if isinstance(value, np.generic) else value
    empty = value is None or (isinstance(value, float) and np.isnan(value)) or str(value) == ""
    return DataError(
        f"{message}, found {'an empty cell' if empty else repr(value)}",
        path=path,
        line=int(row_lines(frame, header_lines)[pos]),
        column=column,
        hint=hint,
    )
