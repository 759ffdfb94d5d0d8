"""``fusionrec search``: find catalogue items from a sentence, by their images or text."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from fusionrec.cli.common import build_config, console, setup_logging
from fusionrec.errors import ConfigError

if TYPE_CHECKING:
    from fusionrec.tasks.search import CatalogueSearch

log = logging.getLogger("fusionrec.cli")


def register(app: typer.Typer) -> None:
    app.command("search")(search)


def _index(
    dataset: str | None, config: Path | None, index: Path | None, cache_dir: Path | None
) -> CatalogueSearch:
    """A fitted index: read from ``index`` if it holds one, else fitted (and saved) here."""
    from fusionrec.tasks.search import (
        CatalogueSearch,
        default_index_dir,
        index_key,
        search_modalities,
    )

    if index is not None and (index / "manifest.json").exists():
        saved = CatalogueSearch.load(index)
        if dataset or config is not None:  # the data asked for must be the index's
            wanted = build_config(config, dataset).dataset.name
            if wanted != saved.manifest["dataset"]:
                raise ConfigError(
                    f"{index} holds an index of dataset '{saved.manifest['dataset']}', not "
                    f"'{wanted}'; give another --index folder to fit one for '{wanted}', or "
                    "drop --dataset/--config to search the saved one"
                )
        return saved
    from fusionrec.encoders.pipeline import build_item_features
    from fusionrec.tasks.alignment import AlignConfig
    from fusionrec.train.experiment import features_settings, load_clean_dataset

    if not dataset and config is None and index is not None:
        raise ConfigError(
            f"{index} holds no saved index (no manifest.json); give --dataset (or a --config) "
            "to fit one, which is then saved there"
        )
    if not dataset and config is None:
        raise ConfigError(
            "give --dataset (a named dataset or a path), a --config with a dataset section, "
            "or --index with a saved index"
        )
    cfg = build_config(config, dataset)
    _, section_cache, features_config = features_settings(cfg.features or {})
    cache_dir = cache_dir or section_cache
    ds = load_clean_dataset(cfg)
    modalities = search_modalities(ds, features_config)
    features = build_item_features(ds, features_config, modalities, cache_dir, progress=True)
    align = AlignConfig()
    target = index or default_index_dir(index_key(ds, features, align), cache_dir)
    if (target / "manifest.json").exists():
        log.info("using the cached search index %s", target)
        return CatalogueSearch.load(target).describing(ds)
    log.info("fitting the search index for %s (first use; cached for next time)", ds.name)
    fitted = CatalogueSearch.fit(ds, features, config=align, features_config=features_config)
    fitted.save(target)
    log.info("search index saved to %s (reuse it with --index)", target)
    return fitted


#: every view ``CatalogueSearch.ways`` can offer; an index says which of them it has
_WAYS = ("image", "text", "fused", "recommender")


def search(
    query: str = typer.Argument(..., help="what you are looking for, in words"),
    by: str = typer.Option(
        None,
        "--by",
        help="match item image, text or fused (all views); default image, or text for a "
        "catalogue without images",
    ),
    k: int = typer.Option(10, "-k", "--k", help="how many items to show"),
    dataset: str = typer.Option(None, "--dataset", "-d", help="named dataset or a path"),
    config: Path = typer.Option(
        None, "--config", "-c", help="YAML with dataset and features sections"
    ),
    index: Path = typer.Option(
        None, "--index", help="folder of a fitted index: read if present, else written there"
    ),
    cache_dir: Path = typer.Option(None, "--cache-dir", help="feature cache folder"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Search the catalogue with a sentence; prints rank, score, title, item id, image path."""
    setup_logging(verbose)
    if by is not None and by not in _WAYS:  # before minutes of loading and encoding, not after
        raise typer.BadParameter(
            f"--by must be image, text or fused (or recommender, for a saved index fitted with "
            f"one), got {by!r}"
        )
    import pandas as pd
    from rich.table import Table

    fitted = _index(dataset, config, index, cache_dir)
    by = by or fitted.default_way
    hits = fitted.search(query, by=by, k=k)
    table = Table(title=f"{query!r} by {by} in {fitted.manifest['dataset']}")
    for column in ("rank", "score", "title", "item id", "image"):
        justify = "right" if column in {"rank", "score"} else "left"
        table.add_column(column, justify=justify, overflow="fold")
    for rank, row in enumerate(hits.itertuples(index=False), start=1):
        image = "-" if pd.isna(row.image_path) else str(row.image_path)
        table.add_row(str(rank), f"{row.score:.3f}", str(row.title), str(row.item_id), image)
    console.print(table)
