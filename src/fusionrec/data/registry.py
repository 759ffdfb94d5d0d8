"""Where datasets live and how a name or a path becomes a ``Dataset``.

Lookup order for a named dataset: an explicit ``path``, else ``$FUSIONREC_DATA/<name>``, else
``../shared/data/<name>`` (relative to the working directory, then to the project root).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fusionrec.data.cleaning import clean
from fusionrec.data.dataset import Dataset
from fusionrec.data.readers import (
    read_generic,
    read_mmrec,
    read_movielens_mm,
    read_movielens_original,
)
from fusionrec.errors import DataError, did_you_mean

#: Named datasets: folder name under the data root and the reader for it. A dataset in files
#: of the generic reader also names its interactions ``file`` and the reader ``options`` that
#: describe it (paths relative to its folder); settings given with the name override them.
NAMED: dict[str, dict[str, Any]] = {
    "movielens-100k-mm": {"folder": "movielens-100k-mm", "format": "movielens-100k-mm"},
    "movielens-100k": {"folder": "movielens-100k-mm/original", "format": "movielens-original"},
    "amazon-baby": {"folder": "amazon-baby", "format": "mmrec"},
    "movielens-latest-small-mm": {
        "folder": "movielens-latest-small-mm",
        "format": "csv",
        "file": "ratings.csv",
        "options": {
            "columns": {"user": "userId", "item": "movieId"},
            "items_path": "movies.csv",
            "text_fields": ["title", "genres"],
            "item_text_tables": [{"path": "tags.csv", "column": "tag"}],
            "image_pattern": "posters/{movieId}.jpg",
        },
    },
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


#: Options of the generic reader (CSV/TSV/Parquet/JSON lines) and their defaults.
GENERIC_OPTIONS: dict[str, Any] = {
    "columns": None,
    "items_path": None,
    "users_path": None,
    "item_columns": None,
    "text_fields": None,
    "image_column": None,
    "audio_column": None,
    "media_dir": None,
    "image_pattern": None,
    "audio_pattern": None,
    "item_text_tables": None,
    "sep": None,
    "encoding": "utf-8",
    "timestamp_format": None,
    "ids_as": "auto",
    "on_bad_rows": "error",
}
#: Cleaning settings and their defaults, those of a config's ``dataset`` section
#: (``fusionrec.config.DatasetConfig``), so a dataset loaded from Python is the one a config
#: trains on: without de-duplication a repeated (user, item) pair can land in train and test,
#: a test positive the evaluator masks and can never hit.
CLEANING_DEFAULTS: dict[str, Any] = {
    "implicit_threshold": None,
    "dedupe": True,
    "kcore_user": 0,
    "kcore_item": 0,
}
CLEANING_OPTIONS = tuple(CLEANING_DEFAULTS)
GENERIC_FORMATS = ("generic", "csv", "tsv", "parquet", "jsonl")


def dataset_settings(source: Any) -> dict[str, Any]:
    """The settings a dataset is described by: a name or path (str/Path), a mapping, or
    any object with those attributes (``fusionrec.config.DatasetConfig``, via duck typing:
    the data layer does not import the config layer)."""
    if isinstance(source, str | Path):
        return {"name": str(source)}
    if isinstance(source, Mapping):
        return dict(source)
    if hasattr(source, "model_dump"):
        return dict(source.model_dump())
    known = ("name", "path", "format", *GENERIC_OPTIONS, *CLEANING_OPTIONS)
    return {k: getattr(source, k) for k in known if hasattr(source, k)}


def load_dataset(source: Any, /, **options: Any) -> Dataset:
    """Load any dataset a config can describe: ``load_dataset("movielens-100k-mm")``,
    ``load_dataset("data/ratings.csv", columns={"user": "userId", "item": "movieId"})``,
    ``load_dataset(config.dataset)`` or ``load_dataset({"path": ..., ...})``.

    ``options`` (which override the source's settings) are the ``dataset`` config keys:
    ``path``, ``format``, the generic reader's options (``GENERIC_OPTIONS``) and the
    cleaning settings (``CLEANING_DEFAULTS``, which apply to those not given, as in a config:
    ``dedupe=False`` keeps repeated interactions). An unknown or inapplicable option is a
    ``DataError``.
    """
    settings = {k: v for k, v in (dataset_settings(source) | options).items() if v is not None}
    name = str(settings.pop("name", "")) or None
    path, fmt = settings.pop("path", None), settings.pop("format", None)
    cleaning = CLEANING_DEFAULTS | {k: settings.pop(k) for k in CLEANING_OPTIONS if k in settings}
    unknown = sorted(set(settings) - set(GENERIC_OPTIONS))
    if unknown:
        raise DataError(
            f"unknown dataset option(s) {unknown}",
            hint=f"Known: path, format, {', '.join([*GENERIC_OPTIONS, *CLEANING_OPTIONS])}",
        )
    by_name = not isinstance(source, str | Path)
    if path is None and name in NAMED:
        entry = NAMED[name]
        folder = resolve_named(name)
        path = folder / entry.get("file", "")
        fmt = fmt or entry["format"]
        settings = _named_options(entry, folder) | settings
        by_name = True
    elif path is None:
        path = Path(name or "")
        if not name or not path.exists():
            guess = did_you_mean(name or "", NAMED)
            raise DataError(
                f"'{name}' is neither a known dataset ({sorted(NAMED)}) nor an existing path"
                + (f" ({guess})" if guess else ""),
                hint="Check the spelling, pass an existing file or directory, or set dataset.path",
            )
    dataset = _read(Path(path), fmt, name if by_name else None, settings)
    return clean(dataset, **cleaning)


def _named_options(entry: dict[str, Any], folder: Path) -> dict[str, Any]:
    """A named dataset's reader options, their paths made absolute under ``folder``."""
    options = dict(entry.get("options", {}))
    for key in ("items_path", "users_path"):
        if key in options:
            options[key] = str(folder / options[key])
    if "item_text_tables" in options:
        options["item_text_tables"] = [
            {**table, "path": str(folder / table["path"])} for table in options["item_text_tables"]
        ]
    return options


def _read(path: Path, fmt: str | None, name: str | None, options: dict[str, Any]) -> Dataset:
    """Dispatch to the reader of ``fmt`` (detected from the path when None)."""
    if not path.exists():
        raise DataError("path does not exist", path=path, hint="Check the dataset path")
    fmt = fmt or detect_format(path)
    if fmt in GENERIC_FORMATS:
        # a file is not named after a named dataset of another format (the config's
        # default name is movielens-100k-mm): it is named after itself
        other = name in NAMED and NAMED[name]["format"] not in GENERIC_FORMATS
        generic_name = None if other else name
        return read_generic(
            path, fmt=None if fmt == "generic" else fmt, name=generic_name, **options
        )
    readers = {
        "movielens-100k-mm": read_movielens_mm,
        "movielens-original": read_movielens_original,
        "mmrec": lambda p: read_mmrec(p, name=name),
    }
    if fmt not in readers:
        raise DataError(
            f"unknown dataset format '{fmt}'",
            hint="Use movielens-100k-mm, movielens-original, mmrec, csv, tsv, parquet or jsonl",
        )
    inapplicable = sorted(k for k, v in options.items() if v != GENERIC_OPTIONS[k])
    if inapplicable:
        raise DataError(
            f"dataset option(s) {inapplicable} apply to CSV/TSV/Parquet/JSON-lines files, "
            f"not to the {fmt} format of {path}",
            hint="Remove them, or set dataset.format for a generic file",
        )
    return readers[fmt](path)
