"""``fusionrec serve``: the HTTP API and web page of an exported bundle."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import typer

from fusionrec.cli.common import console, setup_logging
from fusionrec.errors import FusionrecError


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
    _check_port(host, port)  # before loading the bundle in the server, not after
    console.print(f"serving {manifest['model']} on {manifest['dataset']} at http://{host}:{port}/")
    os.environ[BUNDLE_ENV] = str(bundle.resolve())
    uvicorn.run(
        "fusionrec.serve.app:app_from_env", factory=True, host=host, port=port, workers=workers
    )


def _check_port(host: str, port: int) -> None:
    """Refuse an address that cannot be listened on (a port another server holds, a host
    that is not this machine's) in one line: uvicorn would load the app, log the bind error
    and exit 3, after this command had already announced the URL."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            probe.bind(address)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise FusionrecError(
            f"cannot listen on {host}:{port} ({reason}); another server may hold the port: "
            "choose another --port (or stop that server)"
        ) from None
