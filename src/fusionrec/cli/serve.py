"""``fusionrec serve``: the HTTP API and web page of an exported bundle."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from fusionrec.cli.common import console, setup_logging


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    bundle: Path = typer.Argument(..., help="bundle folder written by 'fusionrec export'"),
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on"),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="port to listen on"),
    workers: int = typer.Option(1, "--workers", min=1, help="worker processes"),
) -> None:
    """Serve BUNDLE: JSON API (schema at /docs) and the web page at /."""
    setup_logging()
    import uvicorn

    from fusionrec.serve.app import BUNDLE_ENV
    from fusionrec.serve.bundle import read_manifest

    manifest = read_manifest(bundle)  # a corrupt bundle stops here, before binding a port
    console.print(f"serving {manifest['model']} on {manifest['dataset']} at http://{host}:{port}/")
    os.environ[BUNDLE_ENV] = str(bundle.resolve())
    uvicorn.run(
        "fusionrec.serve.app:app_from_env", factory=True, host=host, port=port, workers=workers
    )
