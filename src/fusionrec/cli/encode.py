"""``fusionrec encode``: extract (or read from cache) a dataset's item features."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from fusionrec.cli.common import build_config, console, setup_logging

#: Keys of a ``features`` section; a file holding only them is the section alone.
_SECTION_KEYS = {"text", "image", "audio", "precomputed", "modalities", "cache_dir"}


def register(app: typer.Typer) -> None:
    app.command("encode")(encode)


def _section_alone(path: Path | None) -> dict[str, Any] | None:
    """The file's content when it is a bare ``features`` section (not an experiment)."""
    if path is None:
        return None
    from fusionrec.config import read_yaml

    raw = read_yaml(path)
    return raw if raw and set(raw) <= _SECTION_KEYS else None


def encode(
    dataset: str = typer.Option(None, "--dataset", "-d", help="named dataset or a path"),
    modalities: str = typer.Option(
        None, "--modalities", "-m", help="comma-separated, e.g. text,image (default: all)"
    ),
    cache_dir: Path = typer.Option(
        None, "--cache-dir", help="feature cache (default $FUSIONREC_CACHE or ~/.cache/...)"
    ),
    config: Path = typer.Option(
        None,
        "--config",
        "-c",
        help="experiment YAML (its dataset and features), or the features section alone",
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="recompute, do not read or write"),
    export: Path = typer.Option(
        None,
        "--export",
        help="also write each modality to DIR/<modality>.npz (matrix, mask, item ids, encoder), "
        "for features.precomputed on a machine without the encoder models",
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
    overrides: list[str] = typer.Argument(None, help="key=value config overrides"),
) -> None:
    """Encode item text/image/audio into feature matrices with presence masks (cached)."""
    setup_logging(verbose)
    from rich.table import Table

    from fusionrec.encoders.store import default_cache_dir
    from fusionrec.io import ensure_writable_dir
    from fusionrec.train.experiment import load_clean_dataset, load_features

    extra = list(overrides or [])
    section = _section_alone(config)
    if section is not None:  # a bare features section: the same as features.<key> overrides
        extra = [f"features.{k}={json.dumps(v)}" for k, v in section.items()] + extra
        config = None
    if modalities:
        names = [m.strip() for m in modalities.split(",") if m.strip()]
        extra.append(f"features.modalities={json.dumps(names)}")
    if cache_dir:
        extra.append(f"features.cache_dir={json.dumps(str(cache_dir))}")
    cfg = build_config(config, dataset, extra)
    if not no_cache:  # before any encoding, whose results an unwritable cache would lose
        hint = "pass a writable --cache-dir (or set $FUSIONREC_CACHE), or --no-cache"
        cache = (cfg.features or {}).get("cache_dir") or default_cache_dir()
        ensure_writable_dir(cache, "the feature cache", hint)
    if export is not None:
        ensure_writable_dir(export, "the export folder", "pass a writable --export folder")
    ds = load_clean_dataset(cfg)
    if cfg.features is None:
        cfg = cfg.model_copy(update={"features": {}})
    features, report = load_features(
        cfg, ds, progress=True, with_report=True, use_cache=not no_cache
    )
    if report is None:
        console.print("features.modalities is empty: nothing to encode")
        return
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
        if m.missing_file:
            console.print(f"{m.name} items without content: {m.missing_file}", highlight=False)
    if export is not None:
        from fusionrec.encoders.precomputed import export_features

        paths = export_features(features, ds.item_ids, export)
        names = ", ".join(f"{p.stem}: {p}" for p in paths)
        console.print(
            f"exported; on another machine set features.precomputed to {{{names}}}",
            highlight=False,
            soft_wrap=True,
        )
