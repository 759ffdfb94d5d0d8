"""``fusionrec tune``: Optuna search on validation, one test evaluation of the best."""

from __future__ import annotations

import shlex
from pathlib import Path

import typer

from fusionrec.cli.common import (
    build_config,
    console,
    metrics_table,
    setup_logging,
    shown_metrics,
)


def register(app: typer.Typer) -> None:
    app.command("tune")(tune)


def tune(
    config: Path = typer.Option(
        None, "--config", "-c", help="experiment YAML (its 'search', or the model's own space)"
    ),
    overrides: list[str] = typer.Argument(None, help="key=value overrides"),
    dataset: str = typer.Option(None, "--dataset", "-d", help="named dataset or a path"),
    run_dir: Path = typer.Option(None, "--run-dir", help="default: <output_dir>/<name>-tune"),
    quiet: bool = typer.Option(True, "--quiet/--progress", help="progress bar per trial"),
    resume: bool = typer.Option(
        False, "--resume", help="continue a stopped search: replay the recorded trials"
    ),
) -> None:
    """Search hyper-parameters on validation; train the best and score test once.

    Ctrl-C stops it with exit code 130 and prints the command that resumes it."""
    setup_logging()
    from fusionrec.train.tune import tune as run_tune

    cfg = build_config(config, dataset, overrides)
    out = run_dir or Path(cfg.output_dir) / f"{cfg.run_name}-tune"
    try:
        summary = run_tune(cfg, out, progress=not quiet, resume=resume)
    except KeyboardInterrupt as exc:
        again = ["fusionrec", "tune", *(["-c", str(config)] if config else [])]
        again += [*(["-d", dataset] if dataset else []), *(overrides or [])]
        again += ["--run-dir", str(out), *([] if quiet else ["--progress"])]
        report_interrupt(exc, out, again)
        raise typer.Exit(130) from None
    rows = {
        _trial_label(t): {
            **{k: str(v) for k, v in t["params"].items()},
            summary["metric"]: t[f"valid_{summary['metric']}"],
        }
        for t in summary["trials"]
    }
    keys = list(summary["best_params"])
    console.print(metrics_table("trials (validation)", rows, [summary["metric"]], extra=keys))
    console.print(
        metrics_table(
            "best setting (test, scored once)",
            {str(summary["best_params"]): summary["test"]},
            shown_metrics({"test": summary["test"]}),
        )
    )
    console.print(f"best config: {out / 'best_config.yaml'}")


def _trial_label(trial: dict) -> str:
    stopped = f" (stopped at epoch {trial['epochs']})" if trial.get("pruned") else ""
    return f"trial {trial['trial']}{stopped}"


def report_interrupt(exc: KeyboardInterrupt, run_dir: Path, command: list[str]) -> None:
    """Say how far an interrupted search got and the exact command that resumes it."""
    from rich.console import Console

    from fusionrec.io import read_json
    from fusionrec.train.trainer import TrainingInterrupted
    from fusionrec.train.tune import SEARCHED, TRIALS

    err = Console(stderr=True, soft_wrap=True, highlight=False, markup=False)
    recorded = len(read_json(run_dir / TRIALS)) if (run_dir / TRIALS).exists() else 0
    where = f"interrupted: {recorded} trial(s) recorded in {run_dir / TRIALS}"
    if isinstance(exc, TrainingInterrupted) and exc.checkpoint is not None:
        where += f"; the run in training has its latest checkpoint {exc.checkpoint}"
        where += f" (epoch {exc.epoch})"
    err.print(where)
    if (run_dir / SEARCHED).exists():
        err.print(f"resume with: {shlex.join([*command, '--resume'])}")
    else:
        err.print(f"nothing was saved in {run_dir}; start again with: {shlex.join(command)}")
