"""Reading tabular files with errors that point at the file, line and column.

Every reader in fusionrec goes through ``read_table`` and ``require_columns`` /
``numeric_column`` so a bad file fails the same clear way whatever its format.

Rows that cannot be used (a line with too many fields, a non-numeric rating, an empty id,
an id that swallowed lines after a stray quote, a JSON line that is not an object) stop
loading by default (``on_bad_rows="error"``). With ``on_bad_rows="skip"`` they are
dropped and recorded in a ``BadRows`` log (count, then the first few lines with their
content), so nothing disappears silently.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import io
import json
import logging
import lzma
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

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
_OPEN_QUOTE = re.compile(r"EOF inside string starting at row (\d+)")
_BAD_ROWS_HINT = "Fix or remove that row, or set dataset.on_bad_rows: skip to skip such rows"
_QUOTE_HINT = (
    'Remove the stray quote, or double a quote that belongs to a value ("" inside a quoted field)'
)
_JSON_HINT = (
    "Fix or remove that line (each line must be one JSON object), or set "
    "dataset.on_bad_rows: skip to skip such lines"
)
#: Compressed files pandas opens by their suffix that this module re-reads for line numbers.
_OPENERS: dict[str, Any] = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
#: the suffixes of compressed files, read by ``open_text``
COMPRESSED = frozenset(_OPENERS)
#: what a damaged compressed file raises when read
DECOMPRESSION_ERRORS = (gzip.BadGzipFile, EOFError, OSError, lzma.LZMAError)
_UNREADABLE = (".zip", ".zst", ".tar")


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

    ``str_columns`` are the id columns, read as text (ids such as ``0669361001`` keep their
    leading zero); in CSV/TSV an id holding a line break is a bad row, since it is the mark
    of an unbalanced quote that swallowed the lines after it. With ``bad_rows`` given, bad
    CSV rows and bad JSON lines are skipped and recorded there; without it they are an
    error naming the line. ``row_lines(frame)`` gives each row's 1-based line number in the
    file (the header is line 1), worked out from ``frame.attrs["lines"]``.
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
    try:
        if fmt in ("csv", "tsv"):
            frame = _read_delimited(path, fmt, sep, header, names, encoding, str_columns, bad_rows)
        elif fmt == "parquet":
            frame = pd.read_parquet(path)
            frame.attrs["lines"] = _row_lines(len(frame), 0, [])
        else:
            frame = _read_jsonl(path, encoding, bad_rows)
    except UnicodeDecodeError as exc:
        raise _decode_error(path, encoding, exc) from None
    except pd.errors.ParserError as exc:
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
    records = _Records(path, encoding, delimiter)
    try:
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
    except pd.errors.ParserError as exc:
        raise _parser_error(path, fmt, exc, records) from None
    skipped = _skipped_lines(caught) if bad_rows is not None else {}
    frame.attrs["lines"] = RowLines(records, 1 if header else 0, len(frame), set(skipped))
    if skipped and bad_rows is not None:
        spans = {number: records.span(number) for number in skipped}
        content = _line_contents(path, encoding, {first for first, _ in spans.values()})
        for number, reason in skipped.items():
            first, last = spans[number]
            bad_rows.add(first, content.get(first, ""), reason + _runs_over(first, last))
    return _drop_broken_ids(frame, path, encoding, str_columns or [], bad_rows)


def _parser_error(path: Path, fmt: str, exc: pd.errors.ParserError, records: _Records) -> DataError:
    """pandas' tokenizer error with the real line: pandas counts a record with a quoted
    line break as one line, so its numbers drift after such a record."""
    match = _FIELD_COUNT.search(str(exc))
    if match:
        expected, number, found = (int(g) for g in match.groups())
        first, last = records.span(number)
        message = f"expected {expected} fields, found {found}{_runs_over(first, last)}"
        return DataError(message, path=path, line=first, hint=_BAD_ROWS_HINT)
    match = _OPEN_QUOTE.search(str(exc))
    if match:  # pandas gives the record's index (0-based, blank lines counted)
        first, last = records.span(int(match.group(1)) + 1)
        return DataError(
            f"a quote opened on this line is never closed, so lines {first}-{last} (the rest "
            "of the file) would be one field: an unbalanced quote",
            path=path,
            line=first,
            hint=_QUOTE_HINT,
        )
    return DataError(f"could not parse as {fmt}: {exc}", path=path, hint=_BAD_ROWS_HINT)


def _runs_over(first: int, last: int) -> str:
    if last <= first:
        return ""
    return f" (the row runs over lines {first}-{last}: an unbalanced quote?)"


def _drop_broken_ids(
    frame: pd.DataFrame,
    path: Path,
    encoding: str,
    id_columns: list[str],
    bad_rows: BadRows | None,
) -> pd.DataFrame:
    """Ids holding a line break are an error, or skipped rows with ``bad_rows``. No real id
    holds one: a field opened by a stray quote runs on to the next quote, swallowing the
    rows in between into one cell, and the rows read fine otherwise."""
    bad = np.zeros(len(frame), dtype=bool)
    where = np.full(len(frame), "", dtype=object)
    for column in id_columns:
        if column not in frame.columns or frame[column].dtype.kind in "biufcmM":
            continue
        hit = frame[column].str.contains("\n", regex=False, na=False).to_numpy(dtype=bool)
        where[hit & ~bad] = column
        bad |= hit
    if not bad.any():
        return frame
    lines: RowLines = frame.attrs["lines"]
    first, last = lines.spans()
    positions = np.flatnonzero(bad)
    if bad_rows is None:
        pos = positions[0]
        value = str(frame[where[pos]].iloc[pos])
        shown = repr(value if len(value) <= 60 else value[:57] + "...")
        raise DataError(
            f"the id {shown} holds a line break: it looks like an unbalanced quote, a field "
            f"opened by a quote on line {first[pos]} and closed on line {last[pos]}, which "
            f"swallowed the {last[pos] - first[pos]} line(s) after it into this cell",
            path=path,
            line=int(first[pos]),
            column=where[pos],
            hint=f"{_QUOTE_HINT}, or set dataset.on_bad_rows: skip to skip such rows",
        )
    content = _line_contents(path, encoding, {int(first[p]) for p in positions})
    for pos in positions:
        start, end = int(first[pos]), int(last[pos])
        reason = (
            f"{where[pos]}: the id holds a line break, an unbalanced quote?; the row swallowed "
            f"lines {start}-{end} ({end - start + 1} lines)"
        )
        bad_rows.add(start, content.get(start, ""), reason)
    kept = frame[~bad].reset_index(drop=True)
    kept.attrs["lines"] = lines.without(positions)
    return kept


class _Records:
    """Where each record of a text file starts and ends, found by one more pass over the
    file, and only when a message needs a line number: valid files never pay for it.

    pandas numbers a record by the records and blank lines before it, not by physical lines,
    so its "line 5" is wrong after a quoted line break; ``span`` maps its numbers to the
    real lines. With no or a multi-character delimiter (JSON lines; pandas' python engine,
    which ignores quotes there) every non-blank line is one record."""

    def __init__(self, path: Path, encoding: str, delimiter: str | None) -> None:
        self.path, self.encoding, self.delimiter = path, encoding, delimiter
        self._table: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._scanned = False

    def table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(pandas' number, first line, last line) of every non-blank record; None when the
        file cannot be read again (a compression this module does not open)."""
        if not self._scanned:
            self._scanned = True
            if not self.path.name.lower().endswith(_UNREADABLE):
                try:
                    self._table = self._scan()
                except (OSError, csv.Error, ValueError):
                    self._table = None
        return self._table

    def span(self, number: int) -> tuple[int, int]:
        """First and last line of the record pandas calls line ``number``."""
        table = self.table()
        if table is not None:
            hit = np.flatnonzero(table[0] == number)
            if len(hit):
                return int(table[1][hit[0]]), int(table[2][hit[0]])
        return number, number

    def _scan(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        numbers: list[int] = []
        firsts: list[int] = []
        lasts: list[int] = []
        limit = csv.field_size_limit()
        csv.field_size_limit(2**31 - 1)  # a swallowed field can be long
        try:
            with open_text(self.path, self.encoding) as handle:
                if self.delimiter is None or len(self.delimiter) != 1:
                    for number, text in enumerate(handle, start=1):
                        if text.strip():
                            numbers.append(number)
                            firsts.append(number)
                            lasts.append(number)
                else:
                    raw = [""]

                    def physical_lines() -> Any:
                        for text in handle:
                            raw[0] = text
                            yield text

                    reader = csv.reader(physical_lines(), delimiter=self.delimiter)
                    start = 1
                    for number, record in enumerate(reader, start=1):
                        end = reader.line_num
                        # pandas skips empty and whitespace-only lines, not a quoted ""
                        one_line = end == start and len(record) == 1
                        if record and not (one_line and not raw[0].strip(" \t\r\n")):
                            numbers.append(number)
                            firsts.append(start)
                            lasts.append(end)
                        start = end + 1
        finally:
            csv.field_size_limit(limit)
        return (
            np.asarray(numbers, dtype=np.int64),
            np.asarray(firsts, dtype=np.int64),
            np.asarray(lasts, dtype=np.int64),
        )


class RowLines:
    """The line span of each row ``read_table`` returned, computed on first use.

    pandas deep-copies ``attrs`` into every frame it derives; this object is shared instead,
    so the lines are computed at most once and a large file's frame carries no array."""

    def __init__(
        self,
        records: _Records,
        header_lines: int,
        n_rows: int,
        skipped: set[int] | None = None,
        dropped: np.ndarray | None = None,
    ) -> None:
        self.records, self.header_lines, self.n_rows = records, header_lines, n_rows
        self.skipped = skipped or set()  # pandas' numbers of the lines it skipped
        self.dropped = np.asarray([] if dropped is None else dropped, dtype=np.int64)
        self._spans: tuple[np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return self.n_rows

    def __deepcopy__(self, memo: dict) -> RowLines:
        return self

    def without(self, positions: np.ndarray) -> RowLines:
        """The lines of the rows left after dropping the rows at ``positions``."""
        read = np.setdiff1d(np.arange(self.n_rows + len(self.dropped)), self.dropped)
        dropped = np.union1d(self.dropped, read[positions])
        return RowLines(
            self.records, self.header_lines, self.n_rows - len(positions), self.skipped, dropped
        )

    def spans(self) -> tuple[np.ndarray, np.ndarray]:
        """(first line, last line) of each row."""
        if self._spans is None:
            self._spans = self._compute()
        return self._spans

    def _compute(self) -> tuple[np.ndarray, np.ndarray]:
        n_read = self.n_rows + len(self.dropped)
        table = self.records.table()
        if table is not None:
            numbers, first, last = table
            rows = np.arange(len(numbers)) >= self.header_lines
            rows &= ~np.isin(numbers, list(self.skipped))
            if rows.sum() == n_read:
                keep = np.ones(n_read, dtype=bool)
                keep[self.dropped] = False
                return first[rows][keep], last[rows][keep]
        # not re-readable: assume one line per row, as pandas numbers them
        lines = _row_lines(n_read, self.header_lines, sorted(self.skipped))
        lines = np.delete(lines, self.dropped)
        return lines, lines


def open_text(path: Path, encoding: str, errors: str = "replace") -> IO[str]:
    """The file as text, decompressed like pandas does by its suffix. Lines are split at
    \\n, \\r\\n and \\r and returned untranslated, as the csv module needs."""
    opener = _OPENERS.get(path.suffix.lower(), open)
    return opener(path, "rt", encoding=encoding, errors=errors, newline="")


def _read_jsonl(path: Path, encoding: str, bad_rows: BadRows | None) -> pd.DataFrame:
    """pandas' fast reader, and ``json`` line by line where it cannot be trusted: its errors
    give an offset into the whole file, not a line, and it silently wraps integers of 2**64
    and more around (id 123456789012345678901 would become 12776324570088369205)."""
    if codecs.lookup(encoding).name == "utf-8":
        encoding = "utf-8-sig"  # a BOM (Windows tools write one) is not JSON; this drops it
    try:
        frame = _pandas_jsonl(path, encoding)
    except UnicodeDecodeError:
        raise
    except (ValueError, TypeError):  # TypeError: a line holding a list among objects
        frame = None
    if frame is None or _long_digit_runs(path):
        texts, numbers, objects, wide, clean = _json_lines(path, encoding, bad_rows)
        if frame is None or wide or not clean:
            frame = None
            if not wide:  # read the good lines the usual way, so their values are the same
                try:
                    frame = _pandas_jsonl(io.StringIO("\n".join(texts)), "utf-8")
                except (ValueError, TypeError):
                    frame = None
            if frame is None or len(frame) != len(objects):
                frame = pd.DataFrame(objects)
            frame.attrs["lines"] = np.asarray(numbers, dtype=np.int64)
            return frame
    frame.attrs["lines"] = RowLines(_Records(path, encoding, None), 0, len(frame))
    return frame


def _pandas_jsonl(source: Path | IO[str], encoding: str) -> pd.DataFrame:
    # dtype=False: JSON strings stay strings ("0669361001"), numbers stay numbers.
    return pd.read_json(
        source,
        lines=True,
        compression="infer",
        encoding=encoding,
        dtype=False,
        convert_dates=False,
    )


_DIGITS_ONLY = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))


def _long_digit_runs(path: Path) -> bool:
    """Whether the file holds 20 digits in a row, as every integer of 2**64 or more does.
    Digits in strings or decimals make it a false alarm, costing only the exact read."""
    tail = b""
    with _OPENERS.get(path.suffix.lower(), open)(path, "rb") as handle:
        while chunk := handle.read(1 << 24):  # in pieces: a large file is not held twice
            block = tail + chunk.translate(_DIGITS_ONLY)
            if b"0" * 20 in block:
                return True
            tail = block[-19:]  # a run may straddle two pieces
    return False


def _json_lines(
    path: Path, encoding: str, bad_rows: BadRows | None
) -> tuple[list[str], list[int], list[dict], bool, bool]:
    """(texts, line numbers, objects) of the good lines, whether some integer is outside
    pandas' range (int64 and uint64) and whether every line was good. A bad line is an
    error naming it, or with ``bad_rows`` recorded there and left out."""
    texts: list[str] = []
    numbers: list[int] = []
    objects: list[dict] = []
    wide, clean = False, True

    def integer(text: str) -> int:
        nonlocal wide
        value = int(text)
        wide = wide or not -(2**63) <= value < 2**64
        return value

    with open_text(path, encoding, errors="strict") as handle:
        for number, text in enumerate(handle, start=1):
            text = text.rstrip("\r\n")
            if not text.strip():
                continue
            try:
                value = json.loads(text, parse_int=integer)
            except json.JSONDecodeError as exc:
                reason = f"not valid JSON: {exc.msg} (column {exc.colno})"
            except ValueError as exc:
                reason = f"not valid JSON: {exc}"
            else:
                if isinstance(value, dict):
                    texts.append(text)
                    numbers.append(number)
                    objects.append(value)
                    continue
                found = text.strip()
                found = found if len(found) <= 40 else found[:37] + "..."
                reason = f"expected one JSON object {{...}} per line, found {found!r}"
            if bad_rows is None:
                raise DataError(reason, path=path, line=number, hint=_JSON_HINT)
            bad_rows.add(number, text, reason)
            clean = False
    return texts, numbers, objects, wide, clean


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
    out: dict[int, str] = {}
    if not wanted:
        return out
    with open_text(path, encoding) as handle:
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
    """Each row's (first) line number in its file (read by ``read_table``, else header +
    row). Called for messages only: for a CSV file this reads the file once more."""
    lines = frame.attrs.get("lines")
    if isinstance(lines, RowLines):
        lines = lines.spans()[0] if len(lines) == len(frame) else None
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
        fixes = (
            ("\t", "the file looks TSV: set dataset.format: tsv"),
            (",", "the file looks CSV: set dataset.format: csv"),
            (";", "set dataset.sep: ';' (a CSV separated by semicolons)"),
            ("|", "set dataset.sep: '|'"),
        )
        for char, fix in fixes:
            if char in header:
                raise DataError(
                    f"missing column(s) {missing}: the header was read as one column "
                    f"{header!r}, which holds {char!r} separators",
                    path=path,
                    line=1,
                    hint=fix[0].upper() + fix[1:],
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
