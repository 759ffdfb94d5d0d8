"""``fusionrec demo``: the main job. Trains every model on movielens-100k-mm and prints one
comparison table of test metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from fusionrec.cli.common import (
    METRICS_HELP,
    console,
    metric_columns,
    metrics_table,
    setup_logging,
    shown_metrics,
)

DEMO = Path(__file__).resolve().parents[1] / "presets" / "demo.yaml"
#: ``--sequential`` adds these (user histories in time order; see docs/models.md) in a study
#: of their own on a leave-one-out split, with two non-sequential references; SASRec's window
#: training counts windows of up to 50 items in a batch
SEQUENTIAL = [
    {"name": "most-popular"},
    {"name": "lightgcn"},
    {"name": "gru4rec", "train": {"batch_size": 128}},
    {"name": "sasrec", "train": {"batch_size": 128}},
    {"name": "mmsasrec", "train": {"batch_size": 128}},
]


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    output: Path = typer.Option(Path("runs/demo"), "--output", "-o", help="study directory"),
    models: str = typer.Option(None, "--models", help="comma-separated subset of models"),
    spec: Path = typer.Option(DEMO, "--spec", help="study YAML (default: the built-in demo)"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bars"),
    sequential: bool = typer.Option(
        False,
        "--sequential",
        help="also train the sequential models (gru4rec, sasrec, mmsasrec) beside most-popular and "
        "lightgcn on a leave-one-out split, in OUTPUT/sequential",
    ),
    metrics: str = typer.Option(None, "--metrics", help=METRICS_HELP),
) -> None:
    """Train the demo study and print Recall/NDCG @10/@20 on the test split."""
    setup_logging()
    from fusionrec.config import read_yaml
    from fusionrec.errors import ConfigError
    from fusionrec.train.study import run_study, study_configs

    only = [m.strip() for m in models.split(",")] if models else None
    studies = [(read_yaml(spec), output)]
    if sequential:  # an option: they add minutes to the demo on a CPU
        ordered = {**studies[0][0], "split": {"method": "leave-one-out"}, "models": SEQUENTIAL}
        ordered.pop("description", None)
        studies.append((ordered, output / "sequential"))
    names = [{c.model.name for c in study_configs(study)} for study, _ in studies]
    if only is not None and (unknown := sorted(set(only).difference(*names))):
        raise ConfigError(
            f"--models: unknown {', '.join(unknown)}; choose from {sorted(set().union(*names))}"
        )
    # cut-offs every model of every study evaluates: checked before anything trains
    ks = set.intersection(*({*c.evaluate.ks} for s, _ in studies for c in study_configs(s)))
    columns = metric_columns(metrics, sorted(ks))
    for (study, folder), has in zip(studies, names, strict=True):
        chosen = None if only is None else [m for m in only if m in has]
        if chosen != []:
            results = run_study(study, folder, progress=not quiet, only=chosen)
            print_study(study, results, folder, columns)


def print_study(
    study: dict[str, Any],
    results: dict[str, Any],
    output: Path,
    columns: list[str] | None = None,
) -> None:
    """The test metrics table of a finished study and how it was made; ``columns`` replace
    the default metrics."""
    from fusionrec.cli.train import masking_note

    rows = {}
    for name, r in results.items():
        rows[name + masking_note(bool(r.get("repeat")))] = {
            **r["test"],
            "epochs": round(sum(s["epochs"] for s in r["per_seed"]) / len(r["per_seed"])),
            "s/epoch": sum(s["seconds_per_epoch"] for s in r["per_seed"]) / len(r["per_seed"]),
        }
    title = f"test metrics, {results[next(iter(results))]['dataset']} (run dir: {output})"
    shown = columns or shown_metrics(rows)
    console.print(metrics_table(title, rows, shown, extra=["epochs", "s/epoch"]))
    console.print(protocol(study), markup=False)


def protocol(study: dict[str, Any]) -> str:
    """How the table was made, from the spec itself: what a reader needs to weigh it."""
    from fusionrec.train.study import study_configs

    configs = study_configs(study)
    first = configs[0]

    def each(values: list[Any]) -> str:  # every model's setting, not only the first one's
        return "/".join(dict.fromkeys(str(v) for v in values))

    epochs = "/".join(str(e) for e in sorted({c.train.epochs for c in configs}))
    lrs = "/".join(f"{lr:g}" for lr in sorted({c.train.lr for c in configs}))
    line = (
        f"{first.split.method} split, seeds {each([c.seeds for c in configs])}; at most "
        f"{epochs} epochs, lr {lrs}, early stopping on validation "
        f"{each([c.train.metric for c in configs])} "
        f"(patience {each([c.train.patience for c in configs])}); "
        "test scored once per seed; no hyper-parameter search"
    )
    return line + (
        f"\n{' '.join(study['description'].split())}" if study.get("description") else ""
    )
