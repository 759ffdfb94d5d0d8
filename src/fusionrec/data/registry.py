"""Where datasets live and how a name or a path becomes a ``Dataset``.

Lookup order for a named dataset: an explicit ``path``, else ``$FUSIONREC_DATA/<name>``, else
``../shared/data/<name>`` (relative to the working directory, then to the project root).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fusionrec.data.dataset import Dataset
from fusionrec.data.readers import (
    read_generic,
    read_mmrec,
    read_movielens_mm,
    read_movielens_original,
)
from fusionrec.errors import DataError

#: Named datasets: folder name under the data root and the reader for it.
NAMED: dict[str, dict[str, Any]] = {
    "movielens-100k-mm": {"folder": "movielens-100k-mm", "format": "movielens-100k-mm"},
    "movielens-100k": {"folder": "movielens-100k-mm/original", "format": "movielens-original"},
    "amazon-baby": {"folder": "amazon-baby", "format": "mmrec"},
}

_PROJECT_ROOT = Path(__file__).resolve().parents[3]


def data_roots() -> list[Path]:
    roots = []
    if os.environ.get("FUSIONREC_DATA"):
        roots.append(Path(os.environ["FUSIONREC_DATA"]))
    roots += [Path.cwd() / ".." / "shared" / "data", _PROJECT_ROOT / ".." / "shared" / "data"]
    return roots


def resolve_named(name: str) -> Path:
    """The folder of a named dataset, searched in ``data_roots()``."""
    folder = NAMED[name]["folder"]
    tried = []
    for root in data_roots():
        candidate = (root / folder).resolve()
        tried.append(str(candidate))
        if candidate.exists():
            return candidate
    raise DataError(
        f"dataset '{name}' not found; looked in {tried}",
        hint=(
            "set $FUSIONREC_DATA to the folder that contains it, or point at the dataset's own "
            "folder (dataset.path in a config; -d <folder> or --data-path on the command line)"
        ),
    )


def detect_format(path: Path) -> str:
    """Guess the reader for a path from the files it holds."""
    if path.is_dir():
        if (path / "u.data").exists():
            return "movielens-original"
        if (path / "ratings.csv").exists() and (path / "items.csv").exists():
            return "movielens-100k-mm"
        if any(path.glob("*.inter")):
            return "mmrec"
        raise DataError(
            "cannot tell the dataset format of this directory",
            path=path,
            hint="Expected u.data, ratings.csv + items.csv, or *.inter; or set 'format'",
        )
    if path.suffix == ".inter":
        return "mmrec"
    return "generic"


def load_dataset(
    name_or_path: str | Path,
    *,
    path: str | Path | None = None,
    format: str | None = None,
    **options: Any,
) -> Dataset:
    """Load a named dataset or a file/folder. ``options`` go to the reader (column mapping,
    item table, text fields ... for the generic reader)."""
    name = str(name_or_path)
    if path is None and name in NAMED:
        path = resolve_named(name)
        format = format or NAMED[name]["format"]
    elif path is None:
        path = Path(name)
        if not path.exists():
            raise DataError(
                f"'{name}' is neither a known dataset ({sorted(NAMED)}) nor an existing path",
                hint="Check the spelling or pass an existing file or directory",
            )
    path = Path(path)
    if not path.exists():
        raise DataError("path does not exist", path=path, hint="Check the dataset path")
    format = format or detect_format(path)
    if format == "movielens-100k-mm":
        return read_movielens_mm(path)
    if format == "movielens-original":
        return read_movielens_original(path)
    if format == "mmrec":
        return read_mmrec(path, name=name if name in NAMED else None)
    if format in ("generic", "csv", "tsv", "parquet", "jsonl"):
        fmt = None if format == "generic" else format
        return read_generic(path, fmt=fmt, name=options.pop("name", None), **options)
    raise DataError(
        f"unknown dataset format '{format}'",
        hint="Use movielens-100k-mm, movielens-original, mmrec, csv, tsv, parquet or jsonl",
    )
