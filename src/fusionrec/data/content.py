"""Item content that is not a plain column of the item table.

* media paths from a column of file names (``image_column``) or from a pattern over the
  item's columns (``image_pattern: posters/{movieId}.jpg``, ``images/{article_id:.3}/
  {article_id}.jpg`` for nested folders), resolved against ``media_dir``;
* text from further tables with several rows per item (MovieLens ``tags.csv``): each adds
  a text field holding the item's distinct values, joined with ", ".
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from fusionrec.data.files import existing_files
from fusionrec.errors import DataError

log = logging.getLogger(__name__)


def attach_paths(
    items: pd.DataFrame, column: str, base: Path | None, target: str, log_lines: list[str]
) -> pd.DataFrame:
    """Resolve relative media paths against ``base``; missing files stay listed (the encoders
    mask them and report them) rather than being dropped here, and a warning counts them
    with an example, so a wrong folder or misspelt names show before anything trains."""
    resolved = [
        None if (pd.isna(v) or str(v).strip() == "") else str((base or Path()) / str(v))
        for v in items[column]
    ]
    named = [p for p in resolved if p is not None]
    missing = [p for p, ok in zip(named, existing_files(named), strict=True) if not ok]
    message = (
        f"{target} from column {column!r}: {len(named) - len(missing)} of {len(resolved)} "
        f"items name a file that exists"
    )
    if missing:
        message += f"; {len(missing)} name a file that does not (e.g. {missing[0]})"
    if len(named) < len(resolved):
        message += f"; {len(resolved) - len(named)} name none"
    (log.warning if missing or not named else log.info)(message)
    log_lines.append(message)
    return items.assign(**{target: resolved})


def pattern_paths(
    items: pd.DataFrame,
    pattern: str,
    base: Path,
    target: str,
    aliases: dict[str, str],
    log_lines: list[str],
) -> pd.DataFrame:
    """``target`` = ``pattern`` formatted with each item's columns (``aliases`` adds the id
    under its name in the source file). Items whose file does not exist get no path; how
    many have one is logged, so a wrong pattern shows at once."""
    rows = items.assign(**{alias: items[col] for alias, col in aliases.items()})
    records = rows.to_dict("records")
    try:
        names = [pattern.format_map(r) for r in records]
    except (KeyError, ValueError, IndexError) as exc:
        raise DataError(
            f"cannot fill the pattern {pattern!r}: {type(exc).__name__} {exc}",
            hint=f"Placeholders must be item table columns: {list(rows.columns)}",
        ) from None
    paths = [base / n for n in names]
    found = [str(p) if ok else None for p, ok in zip(paths, existing_files(paths), strict=True)]
    n_found = sum(p is not None for p in found)
    message = f"{target} from {pattern!r}: {n_found} of {len(found)} items have a file"
    if n_found < len(found):
        example = next(str(p) for p, f in zip(paths, found, strict=True) if f is None)
        message += f" (e.g. no {example})"
    (log.info if n_found else log.warning)(message)
    log_lines.append(message)
    return items.assign(**{target: found})


def join_texts(items: pd.DataFrame, table: pd.DataFrame, column: str, path: Path) -> pd.DataFrame:
    """Add ``column`` of ``table`` (many rows per ``item_id``) as one text per item."""
    if column not in table.columns:
        raise DataError(
            f"no column {column!r}; found {list(table.columns)}",
            path=path,
            line=1,
            hint="Set column: in dataset.item_text_tables to one of them",
        )
    if column in items.columns:
        raise DataError(
            f"the item table already has a column {column!r}",
            path=path,
            hint="Rename one of them",
        )
    values = table.dropna(subset=[column])
    joined = values.groupby("item_id", sort=False)[column].agg(
        lambda v: ", ".join(dict.fromkeys(str(x).strip() for x in v))
    )
    return items.assign(**{column: items["item_id"].map(joined)})
