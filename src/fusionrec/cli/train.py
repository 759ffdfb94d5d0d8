"""``fusionrec train`` and ``fusionrec evaluate``."""

from __future__ import annotations

import shlex
from pathlib import Path

import typer
from rich.console import Console

from fusionrec.cli.common import (
    METRICS_HELP,
    build_config,
    console,
    metric_columns,
    metrics_table,
    setup_logging,
    shown_metrics,
)


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("evaluate")(evaluate)


def parse_seeds(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise typer.BadParameter(
            f"--seeds must be comma-separated integers, got '{text}'"
        ) from None
    if len(set(seeds)) != len(seeds):
        raise typer.BadParameter(f"--seeds must be distinct, got '{text}'")
    return seeds


def train(
    config: Path = typer.Option(None, "--config", "-c", help="experiment YAML (configs/*.yaml)"),
    overrides: list[str] = typer.Argument(None, help="key=value overrides, e.g. train.lr=0.01"),
    dataset: str = typer.Option(None, "--dataset", "-d", help="named dataset or a path"),
    run_dir: Path = typer.Option(None, "--run-dir", help="default: <output_dir>/<run name>"),
    seeds: str = typer.Option(None, "--seeds", help="e.g. 1,2,3: report mean ± std"),
    resume: bool = typer.Option(
        False, "--resume", help="continue the run in --run-dir from its checkpoints"
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="replace the run already in --run-dir"
    ),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bar"),
    metrics: str = typer.Option(None, "--metrics", help=METRICS_HELP),
) -> None:
    """Train a model: early stopping on validation, test scored once with the best weights.

    Ctrl-C stops it with exit code 130 and prints the command that resumes it."""
    setup_logging()
    from fusionrec.train.experiment import resolve_run_dir, run_experiment

    cfg = build_config(config, dataset, overrides)
    columns = metric_columns(metrics, cfg.evaluate.ks)
    seed_list = parse_seeds(seeds)
    if seed_list:
        cfg = cfg.model_copy(update={"seeds": seed_list})
    run_dir = resolve_run_dir(cfg, run_dir)
    try:
        results = run_experiment(
            cfg, run_dir, progress=not quiet, resume=resume, overwrite=overwrite
        )
    except KeyboardInterrupt as exc:
        again = ["fusionrec", "train", *(["-c", str(config)] if config else [])]
        again += [*(["-d", dataset] if dataset else []), *(overrides or [])]
        again += ["--run-dir", str(run_dir), *(["--seeds", seeds] if seeds else [])]
        report_interrupt(exc, run_dir, again)
        raise typer.Exit(130) from None
    rows = {
        f"{cfg.model.name} (valid)": results["valid"],
        f"{cfg.model.name} (test)": results["test"],
    }
    if "random" in results:  # cold-start: the exact expectation of a random ranking
        rows["random ranking (test, expected)"] = results["random"]
    title = f"{results['dataset']}, seeds {cfg.seeds}{masking_note(cfg.evaluate.repeat)}"
    console.print(metrics_table(title, rows, columns or shown_metrics(rows)))


def masking_note(repeat: bool) -> str:
    """Said in a table's title when seen items were not masked: its numbers differ in kind."""
    return ", nothing masked (evaluate.repeat)" if repeat else ""


def report_interrupt(exc: KeyboardInterrupt, run_dir: Path, command: list[str]) -> None:
    """Say where an interrupted run stands and the exact command that resumes it."""
    from fusionrec.train.trainer import TrainingInterrupted

    err = Console(stderr=True, soft_wrap=True, highlight=False, markup=False)
    if not isinstance(exc, TrainingInterrupted):
        err.print("interrupted before training started")
    elif exc.checkpoint is None:
        err.print("interrupted before the seed in training wrote its first checkpoint")
    else:
        err.print(f"interrupted: the latest checkpoint is {exc.checkpoint} (epoch {exc.epoch})")
    if (run_dir / "config.yaml").exists():
        err.print(f"resume with: {shlex.join([*command, '--resume'])}")
    else:
        err.print(f"nothing was saved in {run_dir}; start again with: {shlex.join(command)}")


def evaluate(
    run: Path = typer.Argument(..., help="run directory written by 'fusionrec train'"),
    part: str = typer.Option("test", "--part", help="test or valid"),
    metrics: str = typer.Option(None, "--metrics", help=METRICS_HELP),
    lists: Path = typer.Option(
        None,
        "--lists",
        help="score recommendation lists made elsewhere on the run's split instead: a table "
        "of user_id, item_id (, rank or score) rows (csv, tsv, parquet or jsonl)",
    ),
) -> None:
    """Re-score a trained run from its saved config, split and best weights; with --lists,
    score another system's lists on the same split, masking and metrics."""
    setup_logging()
    from fusionrec.train.reload import rescore_run, run_config

    if part not in ("test", "valid"):
        raise typer.BadParameter("--part must be test or valid")
    config = run_config(run)
    columns = metric_columns(metrics, config.evaluate.ks)
    if lists is not None:
        from fusionrec.api import evaluate_lists

        rows = {str(lists): evaluate_lists(run, lists, part)}
    else:
        per_seed = rescore_run(run, part)
        rows = {f"seed {seed}": metrics for seed, metrics in per_seed.items()}
    title = f"{run} ({part}){masking_note(config.evaluate.repeat)}"
    console.print(metrics_table(title, rows, columns or shown_metrics(rows)))
