"""``fusionrec data inspect`` and ``fusionrec data split``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from fusionrec.cli.common import console, load_data, setup_logging, split_dataset_argument

_ARGUMENTS_HELP = "a dataset (name or path) and/or key=value config overrides"


def register(app: typer.Typer) -> None:
    data_app = typer.Typer(help="Inspect datasets and make splits.", no_args_is_help=True)
    data_app.command("inspect")(inspect)
    data_app.command("split")(split)
    app.add_typer(data_app, name="data")


def inspect(
    dataset: str = typer.Option(None, "--dataset", "-d", help="named dataset or path"),
    data_path: Path = typer.Option(None, "--data-path", help="folder/file of the dataset"),
    config: Path = typer.Option(None, "--config", "-c", help="experiment YAML"),
    features: bool = typer.Option(
        False, "--features", help="also encode (or read from cache) and report feature coverage"
    ),
    arguments: list[str] = typer.Argument(None, help=_ARGUMENTS_HELP),
) -> None:
    """Counts, density, degree distribution and content coverage of a dataset."""
    setup_logging()
    from fusionrec.data.inspect import content_coverage

    dataset, overrides = split_dataset_argument(dataset, arguments)
    cfg, ds = load_data(config, dataset, overrides, data_path)
    s = ds.summary()
    table = Table(title=f"dataset {s['name']}", show_header=False)
    for key in ("users", "items", "interactions"):
        table.add_row(key, f"{s[key]:,}")
    table.add_row("density", f"{s['density']:.4%}")
    for side in ("user_degree", "item_degree"):
        d = s[side]
        table.add_row(
            side.replace("_", " "),
            f"min {d['min']}  p25 {d.get('p25', 0):g}  median {d['median']:g}  "
            f"mean {d['mean']:.1f}  p75 {d.get('p75', 0):g}  max {d['max']}",
        )
    table.add_row("item popularity", _popularity(ds))
    if ds.has_ratings:
        counts = ds.interactions["rating"].value_counts().sort_index()
        table.add_row("ratings", "  ".join(f"{k:g}: {v:,}" for k, v in counts.items()))
    for name, cov in content_coverage(ds).items():
        table.add_row(
            f"{name} coverage",
            f"{cov['present']:,} / {cov['total']:,} items ({cov['missing']:,} missing)",
        )
    for line in ds.log:
        table.add_row("cleaning", line)
    if features:
        _feature_rows(table, cfg, ds)
    console.print(table)


def _popularity(ds: Any) -> str:
    """How concentrated the interactions are, in the terms the evaluator's ``gini@K`` and
    ``tail@K`` use: a long tail is where content-aware models should pay."""
    import numpy as np

    from fusionrec.data.dataset import ITEM
    from fusionrec.evaluate.evaluator import gini, long_tail

    degree = np.bincount(ds.interactions[ITEM].to_numpy(), minlength=ds.n_items)
    head = int((long_tail(degree) == 0).sum())
    never = int((degree == 0).sum())
    share = max(1, ds.n_items)
    none = f"{never:,} item has" if never == 1 else f"{never:,} items have"
    return (
        f"Gini {gini(degree):.2f}; the {head:,} most-interacted items ({head / share:.1%}) "
        f"hold 80% of interactions; {none} none ({never / share:.1%})"
    )


def _feature_rows(table: Table, cfg, ds) -> None:
    """Encoded-feature coverage with the reasons items are missing (from the feature store)."""
    from fusionrec.train.experiment import load_features

    if cfg.features is None:
        cfg = cfg.model_copy(update={"features": {}})
    _, report = load_features(cfg, ds, progress=True, with_report=True)
    if report is None:
        return  # features.modalities: [] asks for none
    for mod in report.modalities:
        why = ", ".join(f"{n} {r}" for r, n in mod.reason_counts().items()) or "none"
        if mod.missing_file:
            why += f" (list: {mod.missing_file})"
        table.add_row(
            f"{mod.name} features",
            f"{mod.present:,} / {mod.n_items:,} items, dim {mod.dim}; missing: {why}",
        )


def split(
    output: Path = typer.Option(..., "--output", "-o", help="run directory to write"),
    dataset: str = typer.Option(None, "--dataset", "-d", help="named dataset or path"),
    data_path: Path = typer.Option(None, "--data-path"),
    config: Path = typer.Option(None, "--config", "-c", help="experiment YAML"),
    arguments: list[str] = typer.Argument(
        None, help=f"{_ARGUMENTS_HELP}, e.g. split.method=temporal"
    ),
) -> None:
    """Make a split and save it (split.parquet + split.json) for every later run to reuse."""
    setup_logging()
    from fusionrec.data import make_split
    from fusionrec.errors import ConfigError
    from fusionrec.io import ensure_writable_dir
    from fusionrec.train.rundir import holds_run

    if holds_run(output):
        raise ConfigError(
            f"{output} holds a trained run, whose weights and results belong to the split "
            "saved with it; write the new split to another folder (-o) and train there with "
            "--run-dir"
        )
    # before any data is read: a file in the way, or a folder that cannot be written
    ensure_writable_dir(output, "the split folder", "give -o a folder you can write to")
    dataset, overrides = split_dataset_argument(dataset, arguments)
    cfg, ds = load_data(config, dataset, overrides, data_path)
    sc = cfg.split
    result = make_split(
        ds,
        sc.method,
        ratios=tuple(sc.ratios),
        seed=sc.seed,
        cold_fraction=sc.cold_fraction,
        path=sc.path,
    )
    path = result.save(output, ds)
    counts = result.counts()
    console.print(
        f"{result.method} split of {ds.name}: train {counts['train']:,}, "
        f"valid {counts['valid']:,}, test {counts['test']:,} -> {path}"
    )
