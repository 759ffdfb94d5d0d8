"""Shared CLI helpers: logging, rich tables, and turning our errors into clean messages."""

from __future__ import annotations

import logging
import sys
from typing import Any

import click
import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.table import Table

from fusionrec.errors import FusionrecError

console = Console()


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=Console(stderr=True), show_path=False)],
        force=True,
    )
    logging.getLogger("fusionrec").setLevel(logging.DEBUG if verbose else logging.INFO)


# Recent typer versions vendor click (``typer._click``), older ones use ``click`` itself:
# accept the usage errors, aborts and exits of both.
_USAGE_ERRORS = (
    click.exceptions.ClickException,
    getattr(typer, "TyperException", click.ClickException),
)
_ABORTS = (click.exceptions.Abort, typer.Abort)
_EXITS = (click.exceptions.Exit, typer.Exit)


def run_app(app: typer.Typer) -> None:
    """Run ``app``; a ``FusionrecError`` shows as one red line and exits 2, no traceback;
    a usage error (unknown option, bad value) shows click's usage message. Exit codes a
    command asks for (``typer.Exit(130)`` after Ctrl-C) come back as return values under
    ``standalone_mode=False``, so they are passed on here rather than lost."""
    try:
        code = app(standalone_mode=False)
    except FusionrecError as exc:
        # escape: "[text, image]" in a hint is text, not rich markup to swallow.
        Console(stderr=True).print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(2)
    except _ABORTS:
        sys.exit(130)
    except _USAGE_ERRORS as exc:
        exc.show()
        sys.exit(getattr(exc, "exit_code", 2))
    except _EXITS as exc:
        sys.exit(exc.exit_code)
    if isinstance(code, int) and not isinstance(code, bool) and code:
        sys.exit(code)


def metrics_table(
    title: str, rows: dict[str, dict[str, Any]], columns: list[str], extra: list[str] = ()
) -> Table:
    """Rows = name -> {metric: {"mean", "std"} or float}; mean ± std shown when std exists."""
    table = Table(title=title)
    table.add_column("model")
    for col in [*columns, *extra]:
        table.add_column(col, justify="right")
    for name, metrics in rows.items():
        cells = []
        for col in [*columns, *extra]:
            value = metrics.get(col)
            if isinstance(value, dict):
                cell = f"{value['mean']:.4f}"
                if value.get("std"):
                    cell += f" ± {value['std']:.4f}"
            elif isinstance(value, float):
                cell = f"{value:.4f}" if col in columns else f"{value:.2f}"
            else:
                cell = "-" if value is None else str(value)
            cells.append(cell)
        table.add_row(name, *cells)
    return table
