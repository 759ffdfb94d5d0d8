"""The short way in: ``fusionrec.fit(...)`` trains through the experiment runner and returns a
``FittedRecommender``; ``fusionrec.tune(...)`` searches a model's settings on validation and
returns the best one fitted; ``fusionrec.load(run_dir)`` re-opens any finished run directory.

Both go through the same run directory (config, split, weights), so a fitted object and a
reloaded one are the same model and give the same recommendations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from fusionrec.config import ExperimentConfig, load_config, read_saved_config
from fusionrec.data.registry import NAMED
from fusionrec.encoders.config import FeaturesConfig
from fusionrec.errors import ConfigError
from fusionrec.models import MODELS
from fusionrec.tasks.recommender import FittedRecommender
from fusionrec.train.experiment import features_settings, run_experiment, train_data
from fusionrec.train.reload import load_run_model
from fusionrec.train.trainer import inference_device


def _dataset_section(dataset: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """A registered name is the dataset's ``name``; a path is its ``path``, the dataset named
    after its file as ``-d PATH`` names it (so the run is ``runs/<file>-<model>``, not a
    folder beside the data named like it)."""
    if isinstance(dataset, Mapping):
        return dict(dataset)
    text = str(dataset)
    if text not in NAMED and Path(text).exists():
        return {"name": Path(text).stem, "path": text}
    return {"name": text}


def _features_section(
    features: Sequence[str] | Mapping[str, Any] | None, model: str
) -> dict[str, Any] | None:
    """``["text", "image"]`` -> ``{"modalities": [...]}``; a mapping is the full section;
    None means none for id models and every modality the dataset has for content models."""
    if features is None:
        cls = MODELS.get(model)
        return {} if cls is not None and cls.requires_features else None
    if isinstance(features, Mapping):
        return dict(features)
    if isinstance(features, str):
        raise ConfigError(f"features must be a list of modalities, e.g. ['{features}']")
    return {"modalities": list(features)}


def fit(
    dataset: str | Path | Mapping[str, Any],
    model: str = "lightgcn",
    features: Sequence[str] | Mapping[str, Any] | None = None,
    *,
    split: str | Mapping[str, Any] | None = None,
    train: Mapping[str, Any] | None = None,
    seeds: Sequence[int] | None = None,
    run_dir: str | Path | None = None,
    overrides: Sequence[str] | None = None,
    progress: bool = False,
    overwrite: bool = False,
    **params: Any,
) -> FittedRecommender:
    """Train ``model`` on ``dataset`` and return it fitted.

    ``dataset``: a registered name (``"movielens-100k-mm"``), a file or folder, or a full
    ``dataset`` config mapping. ``features``: modalities (``["text", "image"]``) or a full
    ``features`` section. ``split``: a method name or a ``split`` section (default: the
    dataset preset's, else random 8:1:1). ``train``: trainer settings (``{"epochs": 50}``).
    ``overrides``: ``key=value`` strings as on the command line (``"evaluate.ks=[5,10]"``).
    ``params``: the model's hyper-parameters. The run directory (default
    ``runs/<dataset>-<model>``) is written exactly as ``fusionrec train`` writes it; one that
    already holds a run is refused unless ``overwrite=True`` (its old files are removed). The
    returned model is the first seed's best-validation weights.
    """
    cfg = _experiment(dataset, model, features, split, train, seeds, overrides, params)
    target = Path(run_dir) if run_dir is not None else Path(cfg.output_dir) / cfg.run_name
    run_experiment(cfg, target, progress=progress, overwrite=overwrite)
    return load(target)


def _experiment(
    dataset: str | Path | Mapping[str, Any],
    model: str,
    features: Sequence[str] | Mapping[str, Any] | None,
    split: str | Mapping[str, Any] | None,
    train: Mapping[str, Any] | None,
    seeds: Sequence[int] | None,
    overrides: Sequence[str] | None,
    params: Mapping[str, Any],
    search: Mapping[str, Any] | None = None,
) -> ExperimentConfig:
    """The validated config ``fit`` and ``tune`` run, built as the command line builds it."""
    config: dict[str, Any] = {
        "dataset": _dataset_section(dataset),
        "model": {"name": model, "params": dict(params)},
    }
    section = _features_section(features, model)
    if section is not None:
        config["features"] = section
    if split is not None:
        config["split"] = {"method": split} if isinstance(split, str) else dict(split)
    if train is not None:
        config["train"] = dict(train)
    if seeds is not None:
        config["seeds"] = list(seeds)
    if search is not None:
        config["search"] = dict(search)
    return load_config(base=config, overrides=list(overrides or []))


@dataclass
class TuneResult:
    """A finished search: the best setting fitted, what it was, how every trial scored on
    validation, and the best setting's test metrics (scored once, after the search; each
    ``{"mean": ..., "std": ...}`` over the config's seeds)."""

    best: FittedRecommender
    params: dict[str, Any]
    trials: pd.DataFrame
    test: dict[str, dict[str, float]]
    run_dir: Path


def tune(
    dataset: str | Path | Mapping[str, Any],
    model: str = "lightgcn",
    features: Sequence[str] | Mapping[str, Any] | None = None,
    *,
    n_trials: int = 20,
    space: Mapping[str, Any] | None = None,
    modality_sets: bool = False,
    pruner: str = "none",
    split: str | Mapping[str, Any] | None = None,
    train: Mapping[str, Any] | None = None,
    seeds: Sequence[int] | None = None,
    run_dir: str | Path | None = None,
    overrides: Sequence[str] | None = None,
    progress: bool = False,
    resume: bool = False,
    **params: Any,
) -> TuneResult:
    """Search ``model``'s settings on validation (``fusionrec tune``) and return the best one
    fitted.

    ``space``: dotted config keys to ranges (``{"train.lr": {"type": "float", "low": 1e-4,
    "high": 1e-2, "log": True}}``); None searches the space the model ships.
    ``modality_sets``: also choose which of the features' modalities the model sees.
    ``pruner``: ``"median"`` stops trials that fall behind, small learning rates that would
    end best among them (docs/tuning.md). Every trial
    trains the first seed and is scored on validation only; the best setting then trains
    with every seed and test is scored once. The search folder (default
    ``runs/<dataset>-<model>-tune``) is written as the command line writes it; a search
    already there is replaced unless ``resume=True``, which continues it. The other
    arguments are ``fit``'s; ``params`` fix model hyper-parameters the space does not search.
    """
    from fusionrec.train.tune import BEST_RUN
    from fusionrec.train.tune import tune as run_search

    # only what differs from the defaults, as a config file would say it, so the search
    # folder records the settings the command line's search of the same config records
    search: dict[str, Any] = {"n_trials": n_trials}
    if modality_sets:
        search["modality_sets"] = True
    if pruner != "none":
        search["pruner"] = pruner
    if space is not None:
        search["space"] = {key: dict(value) for key, value in space.items()}
    cfg = _experiment(dataset, model, features, split, train, seeds, overrides, params, search)
    target = Path(run_dir) if run_dir is not None else Path(cfg.output_dir) / f"{cfg.run_name}-tune"
    summary = run_search(cfg, target, progress=progress, resume=resume)
    metric = f"valid_{summary['metric']}"
    trials = pd.DataFrame(
        [
            {
                "trial": t["trial"],
                **t["params"],
                metric: t[metric],
                "epochs": t.get("epochs"),
                "pruned": bool(t.get("pruned", False)),
            }
            for t in summary["trials"]
        ]
    )
    return TuneResult(
        best=load(target / BEST_RUN),
        params=dict(summary["best_params"]),
        trials=trials,
        test=dict(summary["test"]),
        run_dir=target,
    )


def run_features_config(cfg: ExperimentConfig) -> FeaturesConfig | None:
    """The encoder settings a run's item features were built with (None: no features)."""
    return None if cfg.features is None else features_settings(cfg.features)[2]


def load(run_dir: str | Path, seed: int | None = None) -> FittedRecommender:
    """The fitted recommender of a finished run directory (``seed``: default the first)."""
    model, prep = load_run_model(run_dir, seed)
    cfg = read_saved_config(Path(run_dir) / "config.yaml")
    text_encoder = None
    parsed = run_features_config(cfg)
    if parsed is not None and prep.features is not None and "text" in prep.features:
        # text vectors read from a file (the config's, or one the dataset ships, as MMRec
        # folders do) came from an encoder fusionrec cannot run on a sentence
        shipped = "text" in parsed.precomputed or "text" in prep.dataset.precomputed
        text_encoder = None if shipped else parsed.text
    # what the model was built from, sequences included (explanations rebuild it)
    data = train_data(prep, cfg.model.name, inference_device(cfg.train.device))
    return FittedRecommender(
        model, data, prep.dataset, split=prep.split, text_encoder=text_encoder, run_dir=run_dir
    )


def evaluate_lists(
    run_dir: str | Path, lists: pd.DataFrame | str | Path, part: str = "test"
) -> dict[str, float]:
    """Recommendation lists made elsewhere (another system, another library), scored on a
    run's split exactly as the run's models were: ``lists`` is a table or file (csv, tsv,
    parquet, jsonl) of ``user_id``, ``item_id`` rows, each user's list in ``rank`` order
    (else by descending ``score``, else in table order). The user's known items are masked
    as for any model (a listed one is dropped, not a hit), and an evaluated user without a
    list counts as a miss; both are logged with their counts. Returns the evaluator's
    metrics (``fusionrec evaluate RUN --lists FILE``)."""
    from fusionrec.tasks.external_lists import scored_lists

    evaluator, score = scored_lists(run_dir, lists, part)
    return evaluator.evaluate(score)


def compare(
    run_a: str | Path,
    run_b: str | Path,
    metrics: Sequence[str] = ("recall@20", "ndcg@20"),
    part: str = "test",
) -> pd.DataFrame:
    """Two finished runs on one split, paired over the evaluated users (``fusionrec compare``),
    or a run and a file of lists made elsewhere, scored on the run's split as
    ``evaluate_lists`` scores them: one row per metric with both sides' means, A minus B and
    its 95 % interval, the paired t-test and Wilcoxon p-values, how many users each side
    serves better, and how many seeds each side's per-user metric is averaged over (lists:
    one)."""
    from fusionrec.train.compare import compare_runs

    wanted = [metrics] if isinstance(metrics, str) else list(metrics)  # one name is one metric
    lists = [Path(side).is_file() for side in (run_a, run_b)]
    if all(lists):
        raise ConfigError(
            f"{run_a} and {run_b} are both files: lists are scored on a run's split, so "
            "compare a run with a file of lists, or two runs"
        )
    if any(lists):
        from fusionrec.tasks.external_lists import lists_per_user
        from fusionrec.train.compare import paired_metrics
        from fusionrec.train.reload import per_user_metrics

        run, file = (run_b, run_a) if lists[0] else (run_a, run_b)
        of_run, of_file = per_user_metrics(run, part), lists_per_user(run, file, part)
        a, b = (of_file, of_run) if lists[0] else (of_run, of_file)
        rows = paired_metrics(a, b, wanted, (run_a, run_b))
    else:
        rows = compare_runs(run_a, run_b, wanted, part)
    return pd.DataFrame(
        [
            {
                "metric": metric,
                "a": r["a"],
                "b": r["b"],
                "difference": r["mean"],
                "ci_low": r["low"],
                "ci_high": r["high"],
                "p_t": r["p_t"],
                "p_wilcoxon": r["p_wilcoxon"],
                "a_better": r["better"],
                "b_better": r["worse"],
                "users": r["users"],
                "a_seeds": r["seeds"][0],
                "b_seeds": r["seeds"][1],
            }
            for metric, r in rows.items()
        ]
    )
