"""``fusionrec encode``: extract (or read from cache) a dataset's item features."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from fusionrec.cli.common import console, setup_logging
from fusionrec.errors import ConfigError


def register(app: typer.Typer) -> None:
    app.command("encode")(encode)


def _read_config(path: Path | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(features section, experiment-level extras such as dataset name) from a YAML file.

    The file may be a whole experiment config (with a ``features:`` key) or the section alone;
    ``modalities`` and ``cache_dir`` inside the section are options of this command.
    """
    if path is None:
        return {}, {}
    import yaml

    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    section = dict(raw.get("features") or {}) if "features" in raw else dict(raw)
    dataset = raw.get("dataset") if isinstance(raw.get("dataset"), dict) else {}
    extras = {
        "modalities": section.pop("modalities", None),
        "cache_dir": section.pop("cache_dir", None),
        "dataset": dataset.get("path") or dataset.get("name"),
    }
    return section, extras


def encode(
    dataset: str = typer.Option(None, "--dataset", "-d", help="named dataset or a path"),
    modalities: str = typer.Option(
        None, "--modalities", "-m", help="comma-separated, e.g. text,image (default: all)"
    ),
    cache_dir: Path = typer.Option(
        None, "--cache-dir", help="feature cache (default $FUSIONREC_CACHE or ~/.cache/...)"
    ),
    config: Path = typer.Option(
        None, "--config", "-c", help="YAML with a features section (or the section alone)"
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="recompute, do not read or write"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Encode item text/image/audio into feature matrices with presence masks (cached)."""
    setup_logging(verbose)
    from rich.table import Table

    from fusionrec.data import load_dataset
    from fusionrec.encoders.config import parse_features_config
    from fusionrec.encoders.pipeline import extract_item_features
    from fusionrec.encoders.store import default_cache_dir
    from fusionrec.io import ensure_writable_dir

    section, extras = _read_config(config)
    features_config = parse_features_config(section)
    name = dataset or extras["dataset"]
    if not name:
        raise ConfigError("give --dataset (a named dataset or a path) or dataset.name in --config")
    names = [m.strip() for m in modalities.split(",") if m.strip()] if modalities else None
    cache = cache_dir or extras["cache_dir"]
    if not no_cache:  # before any encoding, whose results an unwritable cache would lose
        hint = "pass a writable --cache-dir (or set $FUSIONREC_CACHE), or --no-cache"
        ensure_writable_dir(cache or default_cache_dir(), "the feature cache", hint)
    ds = load_dataset(name)
    _, report = extract_item_features(
        ds,
        features_config,
        names or extras["modalities"],
        cache,
        progress=True,
        use_cache=not no_cache,
    )
    table = Table(title=f"item features of {ds.name} ({ds.n_items:,} items)")
    for column in ("modality", "dim", "present", "coverage", "time", "problems"):
        table.add_column(column, justify="right" if column in {"dim", "present"} else "left")
    for m in report.modalities:
        rate = m.items_per_second
        time_cell = "cached" if m.from_cache else f"{m.seconds:.1f}s"
        if rate is not None:
            time_cell += f" ({rate:,.0f} items/s)"
        coverage = f"{m.coverage:.1%}"
        if m.field_coverage:
            coverage += " (" + ", ".join(f"{k} {v:.1%}" for k, v in m.field_coverage.items()) + ")"
        table.add_row(
            m.name,
            str(m.dim),
            f"{m.present:,}/{m.n_items:,}",
            coverage,
            time_cell,
            str(len(m.problems)),
        )
    console.print(table)
    for m in report.modalities:
        console.print(f"{m.name} encoder: {m.encoder_id}", highlight=False, soft_wrap=True)
