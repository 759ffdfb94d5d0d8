"""Hyper-parameter search with Optuna, selecting on validation only.

The search space lives in the experiment config under ``search``::

    search:
      n_trials: 20
      space:
        train.lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
        model.params.reg_weight: {type: float, low: 1.0e-5, high: 1.0e-1, log: true}
        model.params.n_layers: {type: int, low: 1, high: 4}
        model.params.fusion: {type: categorical, choices: [concat, sum, gated]}

Every trial trains on train and is scored on validation; the test split is scored exactly
once, for the best setting, after the search.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pydantic

from fusionrec.config import ExperimentConfig, deep_merge, dump_config, validate_config
from fusionrec.errors import ConfigError
from fusionrec.io import write_json, write_text
from fusionrec.train.experiment import prepare, run_experiment, run_seed

log = logging.getLogger(__name__)


class ParamSpace(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: list[Any] | None = None

    @pydantic.model_validator(mode="after")
    def _check(self) -> ParamSpace:
        if self.type not in ("float", "int", "categorical"):
            raise ValueError("type must be float, int or categorical")
        if self.type == "categorical" and not self.choices:
            raise ValueError("categorical needs 'choices'")
        if self.type != "categorical" and (self.low is None or self.high is None):
            raise ValueError(f"{self.type} needs 'low' and 'high'")
        return self


class SearchConfig(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    n_trials: int = pydantic.Field(20, ge=1)
    sampler_seed: int = 0
    space: dict[str, ParamSpace]


def parse_search(config: ExperimentConfig) -> SearchConfig:
    if not config.search:
        raise ConfigError("search: the config has no 'search' section; see docs/tuning.md")
    try:
        return SearchConfig.model_validate(config.search)
    except pydantic.ValidationError as exc:
        lines = [f"search.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise ConfigError("invalid search space:\n  " + "\n  ".join(lines)) from exc


def _suggest(trial: Any, key: str, space: ParamSpace) -> Any:
    if space.type == "categorical":
        return trial.suggest_categorical(key, space.choices)
    if space.type == "int":
        return trial.suggest_int(
            key, int(space.low), int(space.high), log=space.log, step=int(space.step or 1)
        )
    return trial.suggest_float(key, space.low, space.high, log=space.log, step=space.step)


def _nested(key: str, value: Any) -> dict[str, Any]:
    for part in reversed(key.split(".")):
        value = {part: value}
    return value


def tune(
    config: ExperimentConfig, run_dir: str | Path, *, progress: bool = False
) -> dict[str, Any]:
    """Search on validation, then train the best setting and score test once."""
    import optuna

    search = parse_search(config)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    base = config.model_dump(mode="json")
    base["search"] = None
    prep = prepare(validate_config(base), run_dir, progress)
    metric = config.train.metric
    trials: list[dict[str, Any]] = []

    def objective(trial: Any) -> float:
        chosen = {key: _suggest(trial, key, space) for key, space in search.space.items()}
        merged = base
        for key, value in chosen.items():
            merged = deep_merge(merged, _nested(key, value))
        cfg = validate_config(merged, source=f"trial {trial.number}")
        record = run_seed(cfg, prep, cfg.seeds[0], None, progress=progress, evaluate_test=False)
        value = record["valid"][metric]
        trials.append(
            {
                "trial": trial.number,
                "params": chosen,
                f"valid_{metric}": value,
                "epochs": record["epochs"],
            }
        )
        log.info("trial %d %s -> valid %s %.4f", trial.number, chosen, metric, value)
        write_json(run_dir / "trials.json", trials)
        return value

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=search.sampler_seed)
    )
    study.optimize(objective, n_trials=search.n_trials)
    best = base
    for key, value in study.best_params.items():
        best = deep_merge(best, _nested(key, value))
    best_cfg = validate_config(best, source="best trial")
    write_text(run_dir / "best_config.yaml", dump_config(best_cfg))
    final = run_experiment(
        best_cfg, run_dir / "best", prepared=prep, progress=progress, overwrite=True
    )
    summary = {
        "metric": metric,
        "best_params": study.best_params,
        "best_valid": study.best_value,
        "trials": trials,
        "test": final["test"],
    }
    write_json(run_dir / "tune.json", summary)
    return summary
