"""A study: several models trained on one dataset, one split and one set of features, so
their numbers are comparable. ``fusionrec demo`` is a study."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fusionrec.config import ExperimentConfig, deep_merge, read_yaml, validate_config
from fusionrec.errors import ConfigError
from fusionrec.io import write_json
from fusionrec.models.base import MODELS
from fusionrec.train.experiment import Prepared, load_features, prepare, run_experiment

log = logging.getLogger(__name__)


def study_configs(spec: dict[str, Any]) -> list[ExperimentConfig]:
    """Expand ``{shared sections..., models: [{name, params, train...}, ...]}`` into one
    validated experiment config per model (an optional ``description`` is the study's own,
    for people: ``fusionrec demo`` prints it)."""
    entries = spec.get("models")
    if not entries:
        raise ConfigError("study: 'models' must list at least one model")
    shared = {k: v for k, v in spec.items() if k not in ("models", "description")}
    configs = []
    for i, entry in enumerate(entries):
        if "name" not in entry:
            raise ConfigError(f"study: models[{i}] needs a 'name'")
        entry = dict(entry)
        model = {"name": entry.pop("name"), "params": entry.pop("params", {})}
        merged = deep_merge(shared, {"model": model, **entry})
        merged.setdefault("name", f"{model['name']}")
        configs.append(validate_config(merged, source=f"study models[{i}]"))
    return configs


def run_study(
    spec: dict[str, Any] | str | Path,
    output_dir: str | Path,
    *,
    progress: bool = True,
    only: list[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Train every model of the study; returns ``{model: results}`` and writes
    ``<output_dir>/study.json``."""
    if not isinstance(spec, dict):
        spec = read_yaml(spec)
    configs = study_configs(spec)
    if only:
        configs = [c for c in configs if c.model.name in only]
    output_dir = Path(output_dir)
    prep: Prepared | None = None
    results: dict[str, dict[str, Any]] = {}
    for cfg in configs:
        if prep is None:
            prep = prepare(cfg.model_copy(update={"features": None}), output_dir, progress)
        from fusionrec import models  # noqa: F401  (fills the registry)

        if prep.features is None and MODELS[cfg.model.name].requires_features:
            if cfg.features is None:
                raise ConfigError(f"study: model '{cfg.model.name}' needs 'features'")
            prep.features, prep.features_report = load_features(cfg, prep.dataset, progress)
        log.info("training %s", cfg.model.name)
        results[cfg.run_name] = run_experiment(
            cfg,
            output_dir / cfg.run_name,
            prepared=_for_model(prep, cfg),
            progress=progress,
            overwrite=True,  # a study re-run replaces each model's previous run
        )
    write_json(
        output_dir / "study.json",
        {
            name: {
                "valid": r["valid"],
                "test": r["test"],
                "seconds_per_epoch": _mean(r, "seconds_per_epoch"),
                "epochs": _mean(r, "epochs"),
                "peak_memory_mb": _mean(r, "peak_memory_mb"),
            }
            for name, r in results.items()
        },
    )
    return results


def _for_model(prep: Prepared, cfg: ExperimentConfig) -> Prepared:
    """ID-only models see no features; multimodal ones see the study's features."""
    needs = MODELS[cfg.model.name].requires_features
    return Prepared(
        prep.dataset,
        prep.split,
        prep.features if needs else None,
        prep.features_report if needs else None,
    )


def _mean(result: dict[str, Any], key: str) -> float:
    values = [r[key] for r in result["per_seed"]]
    return sum(values) / len(values)
