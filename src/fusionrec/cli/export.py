"""``fusionrec export``: a finished run as a self-contained serving bundle."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from fusionrec.cli.common import add_items_option, console, setup_logging


class IndexChoice(str, Enum):
    auto = "auto"
    flat = "flat"
    hnsw = "hnsw"


def register(app: typer.Typer) -> None:
    app.command("export")(export)


def export(
    run: Path = typer.Argument(..., help="run directory written by 'fusionrec train' or demo"),
    output: Path = typer.Option(..., "--output", "-o", help="bundle folder to write"),
    seed: int = typer.Option(None, "--seed", help="which seed's model (default: the first)"),
    index_kind: IndexChoice = typer.Option(
        "auto", "--index-kind", help="auto (exact up to --exact-max items, else hnsw), flat, hnsw"
    ),
    exact_max: int = typer.Option(
        100_000, "--exact-max", min=1, help="largest exact index for auto"
    ),
    search: bool = typer.Option(True, "--search/--no-search", help="fit catalogue search"),
    sentiment: str = typer.Option(
        "default", "--sentiment", help="'default', a sentiment model folder, or 'none'"
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing bundle"),
    add_items: Path = add_items_option("scored"),
    neighbours: int = typer.Option(
        None, "--neighbours", min=1, help="content neighbours per added item (default 50)"
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Write RUN's embeddings, indexes, item metadata and images into a bundle folder."""
    setup_logging(verbose)
    from fusionrec.serve.bundle import export_bundle, read_manifest
    from fusionrec.serve.index import IndexConfig

    out = export_bundle(
        run,
        output,
        seed=seed,
        index=IndexConfig(kind=index_kind.value, exact_max=exact_max),
        search=search,
        sentiment=None if sentiment == "none" else sentiment,
        overwrite=overwrite,
        progress=True,
        new_items=add_items,
        neighbours=neighbours,
    )
    manifest = read_manifest(out, verify=False)
    console.print(
        f"bundle {out}: {manifest['model']} on {manifest['dataset']}"
        + (f" + {manifest['added_items']:,} added items" if manifest["added_items"] else "")
        + ", views "
        f"{', '.join(manifest['views']) or 'none'}, "
        f"search {'yes' if manifest['search'] else 'no'}, "
        f"sentiment {'yes' if manifest['sentiment'] else 'no'}; serve it with "
        f"`fusionrec serve {out}`"
    )
