"""The ``fusionrec`` command line: thin wrappers that parse, load config and call packages."""

from __future__ import annotations

import importlib

import typer

from fusionrec.cli.common import run_app

app = typer.Typer(
    help="fusionrec: multimodal recommendation from raw content.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

_COMMANDS = (
    "data",
    "train",
    "demo",
    "encode",
    "tune",
    "compare",
    "search",
    "recommend",
    "score",
    "sentiment",
    "export",
    "serve",
)
for _module in _COMMANDS:
    try:
        importlib.import_module(f"fusionrec.cli.{_module}").register(app)
    except ModuleNotFoundError as exc:  # a command whose optional module is not present
        if exc.name != f"fusionrec.cli.{_module}":
            raise


def main() -> None:
    """Console entry point: our own errors print as one clear line, exit code 2."""
    run_app(app)
