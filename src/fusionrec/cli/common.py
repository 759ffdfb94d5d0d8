"""Shared CLI helpers: logging, rich tables, and turning our errors into clean messages."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.table import Table

from fusionrec.errors import ConfigError, FusionrecError, did_you_mean
from fusionrec.progress import stderr_console

if TYPE_CHECKING:
    from fusionrec.config import ExperimentConfig
    from fusionrec.data import Dataset

console = Console()

#: Dataset settings a different ``-d`` dataset keeps from the config (cleaning); every
#: other one says where and how the config's own data is read, and is reset to its default.
_KEPT_DATASET_KEYS = {"name", "implicit_threshold", "dedupe", "kcore_user", "kcore_item"}


def add_items_option(what: str) -> Any:
    """``--add-items FILE``: items new since training, ``what`` is done with them."""
    return typer.Option(
        None,
        "--add-items",
        help="items new since training (csv/tsv/parquet/jsonl: item_id, text fields, "
        f"image_path), {what} through their content neighbours",
    )


def setup_logging(verbose: bool = False) -> None:
    """fusionrec's own steps at INFO (DEBUG with ``verbose``); other libraries' only from
    WARNING up (INFO with ``verbose``): "Loading SentenceTransformer model from ..." on
    every text query is theirs, not news."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=stderr_console(), show_path=False)],
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


def split_dataset_argument(
    dataset: str | None, arguments: list[str] | None
) -> tuple[str | None, list[str]]:
    """``fusionrec data inspect path/to/file.csv key=value``: an argument without ``=`` is
    the dataset (a name or a path), the others are overrides."""
    plain = [a for a in arguments or [] if "=" not in a]
    overrides = [a for a in arguments or [] if "=" in a]
    if not plain:
        return dataset, overrides
    if dataset or len(plain) > 1:
        raise ConfigError(
            f"unexpected argument(s) {plain}: give one dataset (a name or a path, or -d PATH) "
            "and overrides as key.subkey=value"
        )
    return plain[0], overrides


def build_config(
    config: Path | None,
    dataset: str | None = None,
    overrides: list[str] | None = None,
    data_path: Path | None = None,
) -> ExperimentConfig:
    """The experiment config of a command: ``-c`` file < ``-d``/``--data-path`` < overrides.

    ``-d NAME`` that matches the config's ``dataset.name`` keeps the config's dataset
    (columns, item table, ...); another name or a path replaces where the data comes from
    (a path names the dataset after its file); the cleaning settings stay.
    """
    from fusionrec.config import DatasetConfig, load_config
    from fusionrec.data.registry import NAMED

    overrides = list(overrides or [])
    extra = []
    if dataset and load_config(config, overrides).dataset.name != dataset:
        defaults = DatasetConfig().model_dump(mode="json")
        extra += [
            f"dataset.{key}={json.dumps(value)}"
            for key, value in defaults.items()
            if key not in _KEPT_DATASET_KEYS
        ]
        if dataset not in NAMED and Path(dataset).exists():  # a path: named after its file
            extra.append(f"dataset.path={json.dumps(dataset)}")
            dataset = Path(dataset).stem
        extra.append(f"dataset.name={json.dumps(dataset)}")
    if data_path:
        extra.append(f"dataset.path={json.dumps(str(data_path))}")
    return load_config(config, [*extra, *overrides])


def load_data(
    config: Path | None,
    dataset: str | None = None,
    overrides: list[str] | None = None,
    data_path: Path | None = None,
) -> tuple[ExperimentConfig, Dataset]:
    """``build_config`` and the dataset it names, read and cleaned as a training run does."""
    from fusionrec.train.experiment import load_clean_dataset

    cfg = build_config(config, dataset, overrides, data_path)
    return cfg, load_clean_dataset(cfg)


def shown_metrics(rows: dict[str, dict[str, Any]]) -> list[str]:
    """Recall and NDCG at the two smallest cut-offs the rows were scored at (``@10``/``@20``
    with the default ``evaluate.ks``), so a table never shows only columns nobody computed;
    then the long-tail share of the larger of those lists where the rows have it (how far
    each model reaches past the most-rated items: ``tail@K``, docs/evaluation.md)."""
    ks = sorted({int(m.split("@")[1]) for r in rows.values() for m in r if m.startswith("recall@")})
    shown = [f"{metric}@{k}" for metric in ("recall", "ndcg") for k in ks[:2]]
    tail = f"tail@{ks[:2][-1]}" if ks else None
    return shown + ([tail] if any(tail in r for r in rows.values()) else [])


#: Metric families a table can show besides the per-user ranking metrics (and
#: ``sampled<N>-<metric>`` when sampled negatives were asked for): docs/evaluation.md.
SPREAD_METRICS = ("coverage", "gini", "arp", "tail", "novelty", "diversity")

METRICS_HELP = (
    "table columns, e.g. recall@20,ndcg@20,novelty@20,diversity@20 (default: recall and "
    "ndcg at the two smallest cut-offs, tail@K); every metric is in the run's metrics.json"
)


def metric_columns(text: str | None, ks: list[int] | tuple[int, ...]) -> list[str] | None:
    """The ``--metrics`` columns, checked before any work: each a known metric at one of the
    evaluated cut-offs ``ks``; None when not given (the table's default columns)."""
    from fusionrec.evaluate.metrics import METRICS

    if not text:
        return None
    families = (*METRICS, *SPREAD_METRICS)
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        family, _, k = name.rpartition("@")
        base = family.split("-", 1)[1] if family.startswith("sampled") else family
        if base not in families:
            hint = did_you_mean(base, families) or f"one of {', '.join(families)}"
            raise typer.BadParameter(f"--metrics: '{name}' is no metric; {hint}")
        if not k.isdigit() or int(k) not in ks:
            raise typer.BadParameter(
                f"--metrics: '{name}' needs a cut-off the run evaluates "
                f"(evaluate.ks: {', '.join(map(str, ks))})"
            )
    return names


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
