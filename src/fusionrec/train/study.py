"""A study: several models trained on one dataset and one split, so their numbers are
comparable. ``fusionrec demo`` is a study."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from fusionrec.config import ExperimentConfig, deep_merge, read_yaml, validate_config, with_presets
from fusionrec.errors import ConfigError
from fusionrec.io import write_json
from fusionrec.models.base import MODELS
from fusionrec.train.experiment import Prepared, load_features, prepare, run_experiment
from fusionrec.train.rundir import clear_split
from fusionrec.train.subnormals import subnormals_flushed

log = logging.getLogger(__name__)


#: Sections every model of a study shares: one dataset and one split make the rows comparable.
SHARED_ONLY = ("dataset", "split")


def study_configs(spec: dict[str, Any], presets: bool = True) -> list[ExperimentConfig]:
    """Expand ``{shared sections..., models: [{name, params, train..., run}, ...]}`` into one
    validated experiment config per model (an optional ``description`` is the study's own,
    for people: ``fusionrec demo`` prints it).

    ``presets``: each model's config is layered over its dataset and model presets, as
    ``fusionrec train`` layers it, so a study's row is the model a user gets by default. The
    model comparisons in ``benchmarks/`` pass False: they tune from the schema defaults, and
    the presets are what they chose. ``run`` names an entry's run directory (default: the
    model's name); two entries may not share one.
    """
    entries = spec.get("models")
    if not entries:
        raise ConfigError("study: 'models' must list at least one model")
    shared = {k: v for k, v in spec.items() if k not in ("models", "description")}
    configs, runs = [], {}
    for i, entry in enumerate(entries):
        if "name" not in entry:
            raise ConfigError(f"study: models[{i}] needs a 'name'")
        own = [key for key in SHARED_ONLY if key in entry]
        if own:
            raise ConfigError(
                f"study: models[{i}] ({entry['name']}) sets {own}: every model of a study "
                "trains on the study's one dataset and split; set them at the top level, or "
                "make another study"
            )
        entry = dict(entry)
        model = {"name": entry.pop("name"), "params": entry.pop("params", {})}
        run = entry.pop("run", model["name"])
        if run in runs:
            raise ConfigError(
                f"study: models[{runs[run]}] and models[{i}] would both write the run "
                f"'{run}'; give one of them another `run:` name"
            )
        runs[run] = i
        merged = deep_merge(shared, {"model": model, **entry, "name": run})
        source = f"study models[{i}]"
        configs.append(with_presets(merged, source) if presets else validate_config(merged, source))
    return configs


@subnormals_flushed()
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
        unknown = sorted(set(only) - {c.model.name for c in configs})
        if unknown:
            raise ConfigError(
                f"--models: {unknown} not in the study; it has "
                f"{sorted({c.model.name for c in configs})}"
            )
        configs = [c for c in configs if c.model.name in only]
    output_dir = Path(output_dir)
    clear_split(output_dir)  # a re-run makes the spec's split, not the last run's
    prep: Prepared | None = None
    features: dict[str, tuple[Any, Any]] = {}  # per distinct `features` section
    results: dict[str, dict[str, Any]] = {}
    for cfg in configs:
        if prep is None:
            prep = prepare(cfg.model_copy(update={"features": None}), output_dir, progress)
        from fusionrec import models  # noqa: F401  (fills the registry)

        loaded = (None, None)
        if MODELS[cfg.model.name].requires_features:
            if cfg.features is None:
                raise ConfigError(f"study: model '{cfg.model.name}' needs 'features'")
            key = json.dumps(cfg.features, sort_keys=True, default=str)
            if key not in features:
                features[key] = load_features(cfg, prep.dataset, progress)
            loaded = features[key]
        log.info("training %s", cfg.run_name)
        results[cfg.run_name] = run_experiment(
            cfg,
            output_dir / cfg.run_name,
            prepared=Prepared(prep.dataset, prep.split, *loaded),
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
                "cpu_seconds_per_epoch": _mean(r, "cpu_seconds_per_epoch"),
                "epochs": _mean(r, "epochs"),
                "peak_memory_mb": _mean(r, "peak_memory_mb"),
                "repeat": bool(r.get("repeat")),  # nothing masked: another task's numbers
            }
            for name, r in results.items()
        },
    )
    return results


def _mean(result: dict[str, Any], key: str) -> float:
    values = [r[key] for r in result["per_seed"]]
    return sum(values) / len(values)
