"""Hyper-parameter search with Optuna, selecting on validation only.

Every trainable model ships its space (``presets/spaces/<model>.yaml``), searched when the
config's ``search`` section names none (or is absent): ``fusionrec tune -c train.yaml`` tunes
any model with the same budget. ``search.modality_sets: true`` also searches every non-empty
subset of ``features.modalities``. An explicit space replaces the shipped one::

    search:
      n_trials: 20
      space:
        train.lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
        model.params.reg_weight: {type: float, low: 1.0e-5, high: 1.0e-1, log: true}
        model.params.n_layers: {type: int, low: 1, high: 4}
        model.params.fusion: {type: categorical, choices: [concat, sum, gated]}
        features.modalities: {type: categorical, choices: [[text], [image], [text, image]]}

Every trial trains on train and is scored on validation; the test split is scored exactly
once, for the best setting, after the search.

A categorical choice may be a list (a modality set): Optuna sees it under a label
(``text+image``), the config gets the list. ``features.modalities`` is searched without
re-encoding: the base config's features are encoded once and each trial's model sees only
its chosen modalities.

``resume=True`` continues a search that stopped: the trials in ``trials.json`` are replayed
(the seeded sampler proposes them again, in order, and their recorded scores are returned
without training), so a resumed search proposes exactly what an uninterrupted one would,
and raising ``n_trials`` extends a finished search. The trial that was running when the
search stopped continues from its last epoch checkpoint (``trials/<n>/``, removed once the
trial is recorded), so a stop costs at most one epoch. A finished best run is reused.

``search.pruner: median`` stops a trial whose validation score falls below the median of the
finished trials' at the same epoch; every trial then records its validation curve, which a
resumed search reports again, so the pruner decides as it did.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import combinations
from pathlib import Path
from typing import Any, Literal

import pydantic
import yaml

from fusionrec.config import (
    PRESETS,
    ExperimentConfig,
    deep_merge,
    dump_config,
    nest,
    validate_config,
)
from fusionrec.errors import ConfigError
from fusionrec.io import read_json, write_json, write_text
from fusionrec.train.experiment import Prepared, prepare, run_or_continue, run_seed
from fusionrec.train.provenance import code_version
from fusionrec.train.rundir import (
    RESUMABLE,
    RunLock,
    clear_run,
    clear_split,
    config_differences,
)
from fusionrec.train.subnormals import subnormals_flushed
from fusionrec.train.trainer import resolve_device

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
        if self.type != "categorical" and self.low > self.high:
            raise ValueError(f"low ({self.low:g}) is above high ({self.high:g})")
        if self.log and self.type != "categorical" and self.low <= 0:
            raise ValueError(f"log: true needs low > 0 (got {self.low:g})")
        return self


class SearchConfig(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    n_trials: int = pydantic.Field(20, ge=1)
    sampler_seed: int = 0
    #: None: the model's shipped space (``presets/spaces/<model>.yaml``)
    space: dict[str, ParamSpace] | None = None
    #: also search every non-empty subset of ``features.modalities``
    modality_sets: bool = False
    #: ``median`` stops a trial whose validation score, at an evaluated epoch, is below the
    #: median of the finished trials' scores at that epoch (Optuna's MedianPruner): poor
    #: settings cost a few epochs instead of a whole run, but so can a small learning rate
    #: that is behind early and ends best (benchmarks/results/pruner.md). ``none`` trains
    #: every trial out.
    pruner: Literal["none", "median"] = "none"
    #: trials that finish before any trial may be stopped
    prune_after_trials: int = pydantic.Field(5, ge=0)
    #: epochs every trial trains before it may be stopped
    prune_after_epochs: int = pydantic.Field(10, ge=0)


SPACES = PRESETS / "spaces"


def shipped_space(model: str) -> dict[str, Any] | None:
    """The search space fusionrec ships for ``model``; None for a model with nothing to tune."""
    path = SPACES / f"{model}.yaml"
    if not path.exists():
        return None
    return dict(yaml.safe_load(path.read_text(encoding="utf-8"))["space"])


def modality_subsets(modalities: list[str]) -> list[list[str]]:
    """Every non-empty subset, smallest first, each in the given order."""
    return [list(c) for r in range(1, len(modalities) + 1) for c in combinations(modalities, r)]


def _search_error(exc: pydantic.ValidationError) -> ConfigError:
    lines = [f"search.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
    return ConfigError("invalid search space:\n  " + "\n  ".join(lines))


def resolve_search(config: ExperimentConfig) -> ExperimentConfig:
    """``config`` with its search written out in full: the shipped space when it names none,
    the modality sets added when asked. The resolved space is what a run directory records,
    so resuming after the shipped space changed is refused like any other changed setting."""
    try:
        search = SearchConfig.model_validate(config.search or {})
    except pydantic.ValidationError as exc:
        raise _search_error(exc) from exc
    model = config.model.name
    space = dict(config.search["space"]) if search.space is not None else shipped_space(model)
    if space is None:
        raise ConfigError(
            f"search.space: model '{model}' ships no search space (it has nothing to tune); "
            "give one under search.space (see docs/tuning.md)"
        )
    if search.modality_sets:
        from fusionrec.models.base import MODELS

        if not MODELS[model].requires_features:
            raise ConfigError(
                f"search.modality_sets: model '{model}' reads no item features, so every "
                "modality set would train the same model; drop modality_sets"
            )
        names = list((config.features or {}).get("modalities") or [])
        if len(names) < 2:
            raise ConfigError(
                "search.modality_sets: list at least two modalities to choose among in "
                f"features.modalities (the config lists {names or 'none'})"
            )
        space["features.modalities"] = {"type": "categorical", "choices": modality_subsets(names)}
    resolved = {**(config.search or {}), "space": space}
    resolved.pop("modality_sets", None)  # now spelled out in the space
    resolved.setdefault("n_trials", search.n_trials)
    return config.model_copy(update={"search": resolved})


def parse_search(config: ExperimentConfig) -> SearchConfig:
    """The search of a resolved config (``resolve_search``), validated: each setting's
    bounds (or every choice) must make a valid config, so a misspelt key or a bad choice
    fails before any data is read, not when a trial happens to draw it."""
    try:
        search = SearchConfig.model_validate(config.search or {})
    except pydantic.ValidationError as exc:
        raise _search_error(exc) from exc
    if not search.space:
        raise ConfigError("search.space: empty; name at least one setting to search")
    base = config.model_dump(mode="json")
    base["search"] = None
    for key, space in search.space.items():
        values = space.choices if space.type == "categorical" else [space.low, space.high]
        for value in values:
            if space.type == "int":
                value = int(value)
            for setting in _dotted_keys(key, value):
                reason = _unsearchable(setting)
                if reason:
                    where = "" if setting == key else f" (it sets {setting})"
                    raise ConfigError(
                        f"search.space.{key}: cannot be searched{where}: {reason}; set it in "
                        "the config outside search (one search per value)"
                    )
            try:
                validate_config(apply_settings(base, {key: value}), source="search")
            except ConfigError as exc:
                problem = str(exc).split("\n", 1)[-1].strip()
                raise ConfigError(
                    f"search.space.{key}: the value {value!r} is invalid: {problem}"
                ) from None
    return search


def _dotted_keys(key: str, value: Any) -> list[str]:
    """The dotted settings a space value sets: a dict choice (``train: {lr: .., seed: ..}``)
    sets each of its leaves, so a fixed setting cannot slip in one level up."""
    if isinstance(value, dict) and value:
        return [k for sub, v in value.items() for k in _dotted_keys(f"{key}.{sub}", v)]
    return [key]


def _unsearchable(key: str) -> str | None:
    """Why a trial would never apply ``key``, or None when it does. The data, split and
    features are prepared once from the base config and shared by every trial (a trial only
    narrows the encoded modalities), each trial trains the base config's first seed, and
    trials are compared on the base config's metric: a searched value of any of these would
    be recorded in ``best_config.yaml`` without having been what the trials ran."""
    section = key.split(".", 1)[0]
    if section in ("dataset", "split"):
        return f"every trial uses the {section} prepared once from the base config"
    if section == "features" and key != "features.modalities":
        return (
            "every trial uses the features encoded once from the base config (only "
            "features.modalities, a subset of them, may be searched)"
        )
    if key in ("seeds", "train.seed"):
        return "every trial trains the base config's first seed"
    if key == "train.metric":
        return "trials are compared on the base config's train.metric"
    return None


TRIALS = "trials.json"
#: the config (with its search section) the trials in ``trials.json`` belong to
SEARCHED = "search_config.yaml"
#: checkpoints of the trial in progress, ``trials/<number>/``
RUNNING = "trials"
#: what a finished search leaves: its summary, the best setting, and that setting's run
SUMMARY = "tune.json"
BEST_CONFIG = "best_config.yaml"
BEST_RUN = "best"
#: Settings a search may resume with changed: the number of trials, and where and how its
#: trials run (a search started on a laptop goes on on a GPU machine), not what a trial
#: measures: unlike a run, not the epoch budget or the patience, which would score the
#: later trials differently from the recorded ones. Each trial records its device.
SEARCH_RESUMABLE = (RESUMABLE - {"train.epochs", "train.patience"}) | {"search.n_trials"}


def _label(choice: Any) -> Any:
    """Optuna keeps only scalar choices: a list choice goes by its items joined with '+'."""
    return "+".join(map(str, choice)) if isinstance(choice, list) else choice


def _suggest(trial: Any, key: str, space: ParamSpace) -> Any:
    if space.type == "categorical":
        labels = [_label(c) for c in space.choices]
        return space.choices[labels.index(trial.suggest_categorical(key, labels))]
    if space.type == "int":
        return trial.suggest_int(
            key, int(space.low), int(space.high), log=space.log, step=int(space.step or 1)
        )
    return trial.suggest_float(key, space.low, space.high, log=space.log, step=space.step)


def apply_settings(data: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """``data`` with each dotted-key setting (``train.lr: 0.01``) merged in."""
    for key, value in settings.items():
        data = deep_merge(data, nest(key, value))
    return data


def with_modalities(prep: Prepared, config: ExperimentConfig) -> Prepared:
    """``prep`` with only the item features ``config.features.modalities`` names (a searched
    modality set), so a trial never re-encodes."""
    names = (config.features or {}).get("modalities")
    if prep.features is None or names is None or list(names) == prep.features.names:
        return prep
    missing = sorted(set(names) - set(prep.features.names))
    if missing:
        raise ConfigError(
            f"features.modalities {list(names)}: {missing} not among the encoded modalities "
            f"{prep.features.names}; list every searched modality in the base config's "
            "features.modalities"
        )
    features = prep.features.select(list(names))
    return Prepared(prep.dataset, prep.split, features, {"modalities": features.summary()})


def _cached_trials(run_dir: Path, config: ExperimentConfig) -> list[dict[str, Any]] | None:
    """The finished trials of an earlier search with the same settings (``n_trials`` may
    differ), in trial order; an error when the settings changed. None when there is no
    earlier search here to continue."""
    saved_path = run_dir / SEARCHED
    if not (run_dir / TRIALS).exists() and not saved_path.exists():
        return None
    if not saved_path.exists():
        raise ConfigError(
            f"cannot resume the search in {run_dir}: no {SEARCHED} says which settings its "
            f"{TRIALS} belongs to; start over without resume (or another run directory)"
        )
    saved = yaml.safe_load(saved_path.read_text(encoding="utf-8"))
    now = yaml.safe_load(dump_config(config))
    differences = config_differences(saved, now)
    allowed = [d for d in differences if d.split(":", 1)[0] in SEARCH_RESUMABLE]
    differences = [d for d in differences if d not in allowed]
    if allowed:
        log.info("resuming the search in %s with %s", run_dir, "; ".join(allowed))
    if differences:
        raise ConfigError(
            f"cannot resume the search in {run_dir} with different settings: "
            f"{'; '.join(differences)}. Resume with the saved settings ({saved_path}), or "
            "start over without resume (or another run directory)"
        )
    return list(read_json(run_dir / TRIALS)) if (run_dir / TRIALS).exists() else []


@subnormals_flushed()
def tune(
    config: ExperimentConfig,
    run_dir: str | Path,
    *,
    progress: bool = False,
    resume: bool = False,
) -> dict[str, Any]:
    """Search on validation, then train the best setting and score test once; ``resume``
    replays the trials an earlier run of the same search recorded in ``run_dir``."""
    config = resolve_search(config)
    search = parse_search(config)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with RunLock(run_dir):  # one search per folder: two would retrain and clear each other's
        return _search(config, search, run_dir, progress, resume)


def _search(
    config: ExperimentConfig, search: SearchConfig, run_dir: Path, progress: bool, resume: bool
) -> dict[str, Any]:
    import optuna

    done = _cached_trials(run_dir, config) if resume else None
    if done is None:  # a new search: nothing of an earlier one here may leak into it
        # its outcome included: a new search stopped before it finished must not leave the
        # old tune.json, best_config.yaml and best/ run beside its own search_config.yaml
        shutil.rmtree(run_dir / RUNNING, ignore_errors=True)
        if (run_dir / BEST_RUN).is_dir():
            clear_run(run_dir / BEST_RUN)  # a run's files only, as --overwrite would
            if not any((run_dir / BEST_RUN).iterdir()):
                (run_dir / BEST_RUN).rmdir()
        clear_split(run_dir)
        for name in (TRIALS, SUMMARY, BEST_CONFIG):
            (run_dir / name).unlink(missing_ok=True)
        done = []
    write_text(run_dir / SEARCHED, dump_config(config))
    base = config.model_dump(mode="json")
    base["search"] = None
    prep = prepare(validate_config(base), run_dir, progress)
    metric = config.train.metric
    pruning = search.pruner != "none"
    trials: list[dict[str, Any]] = []
    if done:
        log.info("resuming the search in %s: %d trials recorded", run_dir, len(done))
        _warn_other_code(done, run_dir)

    def objective(trial: Any) -> float:
        chosen = {key: _suggest(trial, key, space) for key, space in search.space.items()}
        if trial.number < len(done):
            cached = done[trial.number]
            if cached["params"] != chosen:
                raise ConfigError(
                    f"cannot resume the search in {run_dir}: trial {trial.number} proposes "
                    f"{chosen}, but {TRIALS} recorded {cached['params']}; start over without "
                    "resume"
                )
            trials.append(cached)
            if pruning:  # the pruner judges later trials by every trial's curve
                _report_curve(trial, cached, run_dir)
            if cached.get("pruned"):
                raise optuna.TrialPruned()
            return cached[f"valid_{metric}"]
        cfg = validate_config(apply_settings(base, chosen), source=f"trial {trial.number}")
        trial_dir = _trial_dir(run_dir, trial.number, chosen)
        curve: list[list[float]] = []

        def judge(epoch: int, value: float) -> None:
            curve.append([epoch, value])
            trial.report(value, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()

        record: dict[str, Any] = {"trial": trial.number, "params": chosen}
        try:
            result = run_seed(
                cfg,
                with_modalities(prep, cfg),
                cfg.seeds[0],
                trial_dir,
                progress=progress,
                resume=True,
                evaluate_test=False,
                on_eval=judge if pruning else None,
            )
            record[f"valid_{metric}"] = value = result["valid"][metric]
            record["epochs"] = result["epochs"]
        except optuna.TrialPruned:
            record[f"valid_{metric}"] = value = max(v for _, v in curve)
            record.update({"epochs": int(curve[-1][0]), "pruned": True})
        if pruning:
            record["curve"] = curve
        record.update(device=resolve_device(cfg.train.device).type, code=code_version())
        trials.append(record)
        state = f"stopped at epoch {record['epochs']}, best" if record.get("pruned") else "->"
        log.info("trial %d %s %s valid %s %.4f", trial.number, chosen, state, metric, value)
        write_json(run_dir / TRIALS, trials)
        shutil.rmtree(trial_dir)  # recorded: its checkpoints are no longer needed
        if record.get("pruned"):
            raise optuna.TrialPruned()
        return value

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner = (
        optuna.pruners.MedianPruner(
            n_startup_trials=search.prune_after_trials, n_warmup_steps=search.prune_after_epochs
        )
        if pruning
        else optuna.pruners.NopPruner()
    )
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=search.sampler_seed),
        pruner=pruner,
    )
    with _no_interrupt_report():
        study.optimize(objective, n_trials=max(search.n_trials, len(done)))
    best_params = trials[study.best_trial.number]["params"]
    best_cfg = validate_config(apply_settings(base, best_params), source="best trial")
    write_text(run_dir / BEST_CONFIG, dump_config(best_cfg))
    final = run_or_continue(
        best_cfg, run_dir / BEST_RUN, with_modalities(prep, best_cfg), progress, resume
    )
    summary = {
        "metric": metric,
        "best_params": best_params,
        "best_valid": study.best_value,
        "trials": trials,
        "test": final["test"],
    }
    write_json(run_dir / SUMMARY, summary)
    return summary


def _report_curve(trial: Any, cached: dict[str, Any], run_dir: Path) -> None:
    """Report a recorded trial's validation curve to the replayed study, as it was reported
    when the trial ran."""
    if "curve" not in cached:
        raise ConfigError(
            f"cannot resume the search in {run_dir}: trial {cached['trial']} in {TRIALS} has "
            "no validation curve for the pruner; start over without resume"
        )
    for epoch, value in cached["curve"]:
        trial.report(value, int(epoch))


def trials_by_code(trials: list[dict[str, Any]]) -> dict[str | None, list[int]]:
    """Each code version recorded in ``trials`` (None: trials from before it was recorded)
    and the numbers of the trials it ran."""
    out: dict[str | None, list[int]] = {}
    for t in trials:
        out.setdefault(t.get("code"), []).append(t["trial"])
    return out


def _warn_other_code(done: list[dict[str, Any]], run_dir: Path) -> None:
    """Say which recorded trials ran under other fusionrec code than this process: a search
    resumed after the code changed compares trials of two programs. Allowed (a fix may not
    touch the model searched), but never silent."""
    now = code_version()
    other = {code: trials for code, trials in trials_by_code(done).items() if code != now}
    if other:
        said = "; ".join(
            f"trials {trials} under {code}" if code else f"trials {trials} (code not recorded)"
            for code, trials in other.items()
        )
        log.warning(
            "the search in %s continues under fusionrec %s, but %s: their scores come from "
            "other code; start over without resume for a search of one code version",
            run_dir,
            now,
            said,
        )


class _DropAfterInterrupt(logging.Filter):
    """Optuna reports a trial stopped by Ctrl-C as a failed trial, traceback included,
    before passing the interrupt on; the caller says where the search stands and how to
    resume instead, so that report and the lines after it are dropped."""

    def __init__(self) -> None:
        super().__init__()
        self.interrupted = False

    def filter(self, record: logging.LogRecord) -> bool:
        info = record.exc_info
        if info and isinstance(info[1], KeyboardInterrupt):
            self.interrupted = True
        return not self.interrupted


@contextmanager
def _no_interrupt_report() -> Iterator[None]:
    logger = logging.getLogger("optuna.study._optimize")  # where Optuna reports a trial
    quiet = _DropAfterInterrupt()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


def _trial_dir(run_dir: Path, number: int, chosen: dict[str, Any]) -> Path:
    """Where trial ``number`` keeps its checkpoints while it runs. One left by a stopped
    search is continued only if it holds the same setting; otherwise it is started over."""
    path = run_dir / RUNNING / str(number)
    marker = path / "trial.json"
    if path.exists() and (not marker.exists() or read_json(marker) != chosen):
        shutil.rmtree(path)
    if path.exists():
        log.info("continuing trial %d from its checkpoints in %s", number, path)
    path.mkdir(parents=True, exist_ok=True)
    write_json(marker, chosen)
    return path
