"""The experiment runner: config in, run directory out.

A run directory is the hand-off between training and serving::

    <run>/config.yaml      resolved configuration (all layers applied)
    <run>/split.parquet    the split (external ids + label) and split.json
    <run>/manifest.json    dataset, split, features reference, model, files, results
    <run>/seed-<s>/        best.pt (+ best.json: its epoch), checkpoint.pt, history.json,
                           metrics.json, train.log, item_embeddings.npy /
                           user_embeddings.npy where the model has them, with item_ids.npy /
                           user_ids.npy beside them: row i of the embeddings belongs to
                           external id ids[i] (strings)
    <run>/results.json     valid/test metrics per seed and mean ± std over seeds (a
                           cold-items split adds ``random``, the exact expected metrics of a
                           random ranking of the same candidates): written last, so a run
                           without it is incomplete

One process at a time writes a run directory (``fusionrec.train.rundir``): a new run refuses
a directory that holds one unless told to resume or overwrite it.

Model selection (early stopping) sees only the validation split; test is scored once per
seed, with the best-validation weights.
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import yaml

from fusionrec.config import ExperimentConfig, dump_config
from fusionrec.data import Dataset, ItemFeatures, Split, load_dataset, make_split
from fusionrec.data.dataset import USER
from fusionrec.data.sequences import (
    Sequences,
    chronological_positions,
    dataset_sequences,
    rows_of_parts,
)
from fusionrec.data.split import TEST, TRAIN, VALID
from fusionrec.errors import ConfigError, DataError
from fusionrec.evaluate import Evaluator
from fusionrec.evaluate.cold_start import cold_item_halves, expected_random_metrics
from fusionrec.evaluate.metrics import mean_std
from fusionrec.io import (
    ensure_writable_dir,
    file_sha256,
    read_json,
    write_json,
    write_npy,
    write_text,
)
from fusionrec.models import TrainData, build_model
from fusionrec.models.base import Recommender, model_class
from fusionrec.train.provenance import code_version
from fusionrec.train.rundir import (
    CONFIG,
    LOCK,
    RESULTS,
    SPLIT_FILE,
    RunLock,
    config_differences,
    holds_run,
    open_run,
)
from fusionrec.train.subnormals import subnormals_flushed
from fusionrec.train.trainer import evaluate_model, resolve_device, seed_everything, train_model

if TYPE_CHECKING:
    from fusionrec.encoders.config import FeaturesConfig

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    """Everything shared by the models of one study: same data, split and features."""

    dataset: Dataset
    split: Split
    features: ItemFeatures | None
    features_report: dict[str, Any] | None = None


def load_clean_dataset(config: ExperimentConfig) -> Dataset:
    """The config's dataset, read and cleaned: the one way every command reads data
    (``load_dataset`` takes the whole section)."""
    return load_dataset(config.dataset)


def split_digest(run_dir: Path) -> str:
    return file_sha256(run_dir / SPLIT_FILE).hex()


def check_split_unchanged(run_dir: Path) -> None:
    """A finished run's results belong to the split it trained on: refuse a split file that
    changed since (``fusionrec data split -o`` over the run, a copied file), which would
    otherwise score test items the model trained on."""
    manifest = run_dir / "manifest.json"
    if not manifest.exists():
        return
    recorded = read_json(manifest).get("split", {}).get("sha256")
    if recorded and recorded != split_digest(run_dir):
        raise DataError(
            "this is not the split the run trained on (manifest.json records another): its "
            "test items may be ones the model trained on",
            path=run_dir / SPLIT_FILE,
            hint=f"restore the run's own split, or retrain it: fusionrec train -c "
            f"{run_dir / CONFIG} --run-dir {run_dir} --overwrite",
        )


def split_dataset(config: ExperimentConfig, dataset: Dataset, run_dir: Path | None) -> Split:
    """Reload the run's saved split when there is one, so re-runs compare like with like."""
    if run_dir is not None and (run_dir / SPLIT_FILE).exists():
        log.info("reusing the split saved in %s", run_dir)
        check_split_unchanged(run_dir)
        split = Split.load(run_dir, dataset)
        if config.split.method not in ("auto", split.method):
            raise ConfigError(
                f"split.method: the config asks for '{config.split.method}', but {run_dir} "
                f"holds a '{split.method}' split, which this run would use; drop "
                "split.method from the config, or choose another --run-dir"
            )
        return split
    sc = config.split
    split = make_split(
        dataset,
        sc.method,
        ratios=tuple(sc.ratios),
        seed=sc.seed,
        cold_fraction=sc.cold_fraction,
        path=sc.path,
    )
    if run_dir is not None:
        split.save(run_dir, dataset)
    return split


def load_features(
    config: ExperimentConfig,
    dataset: Dataset,
    progress: bool = True,
    with_report: bool = False,
    use_cache: bool = True,
) -> tuple[ItemFeatures | None, Any]:
    """The study's item features (cached by the feature store) and a summary of them, or the
    full ``FeatureReport`` with ``with_report``. No ``features`` section, or
    ``modalities: []``, means no features."""
    if config.features is None or config.features.get("modalities") == []:
        return None, None
    from fusionrec.encoders.pipeline import extract_item_features

    modalities, cache_dir, feats_cfg = features_settings(config.features)
    features, report = extract_item_features(
        dataset, feats_cfg, modalities, cache_dir, progress, use_cache
    )
    return features, report if with_report else {"modalities": features.summary()}


def features_settings(
    section: dict[str, Any],
) -> tuple[list[str] | None, str | None, FeaturesConfig]:
    """A config's ``features`` section as (modalities, None for every one the data has;
    the feature cache folder; the parsed encoder settings)."""
    from fusionrec.encoders.config import parse_features_config

    settings = dict(section)
    modalities = settings.pop("modalities", None)
    cache_dir = settings.pop("cache_dir", None)
    return modalities, cache_dir, parse_features_config(settings)


def check_cutoffs(config: ExperimentConfig, n_items: int, n_valid_candidates: int) -> None:
    """Refuse a top-K cutoff larger than what can be ranked, once the catalogue is known and
    before any training: early stopping cannot select on a metric that is never computed."""
    select_k = int(config.train.metric.split("@")[1])
    if select_k > n_valid_candidates:
        what = "items" if n_valid_candidates == n_items else "validation candidate items"
        raise ConfigError(
            f"train.metric {config.train.metric}: K={select_k} but there are only "
            f"{n_valid_candidates:,} {what} to rank; choose K <= {n_valid_candidates:,}"
        )
    too_large = [k for k in config.evaluate.ks if k > n_items]
    if too_large:
        raise ConfigError(
            f"evaluate.ks {too_large}: larger than the {n_items:,} items of the catalogue; "
            f"choose values <= {n_items:,}"
        )


def prepare(
    config: ExperimentConfig, run_dir: Path | None = None, progress: bool = True
) -> Prepared:
    dataset = load_clean_dataset(config)
    check_cutoffs(config, dataset.n_items, dataset.n_items)
    check_content(config, dataset)
    split = split_dataset(config, dataset, run_dir)
    features, report = load_features(config, dataset, progress)
    return Prepared(dataset, split, features, report)


def check_content(config: ExperimentConfig, dataset: Dataset) -> None:
    """Refuse a content model whose features default to every modality the data has, on data
    that has none, before a split is written or anything is encoded (the model's own error
    would only say to add the features section the config already has)."""
    if config.features is None or not model_class(config.model.name).requires_features:
        return  # no features: the model says so itself
    modalities, _, feats_cfg = features_settings(config.features)
    if modalities is not None:
        return  # named modalities: the encoders say what each one lacks
    from fusionrec.encoders.pipeline import default_modalities

    if not default_modalities(dataset, feats_cfg):
        raise ConfigError(
            f"model '{config.model.name}' needs item features, and dataset '{dataset.name}' "
            "gives none: name its item table (dataset.items_path) with text columns "
            "(dataset.text_fields) or image/audio files (dataset.image_column, image_pattern), "
            "or read features computed elsewhere (features.precomputed: {image: file.npy})"
        )


def warn_unordered_split(model: str, dataset: Dataset, split: Split) -> None:
    """A sequential model predicts held-out items from the history before them. A split that
    holds out items from anywhere in a history (random, cold-items, most predefined ones)
    leaves later interactions in it; scoring cuts each user's history before their first
    held-out item (``scoring_history``), so those go unused: said, with how many."""
    if not model_class(model).sequential:
        return
    order = chronological_positions(dataset)
    users = dataset.interactions[USER].to_numpy()
    later = 0
    for part in (VALID, TEST):
        history = rows_of_parts(split.labels, HISTORY_PARTS[part])
        last = np.full(dataset.n_users, -1, dtype=np.int64)
        np.maximum.at(last, users[history], order[history])
        held = split.rows(part)
        later += int((order[held] < last[users[held]]).sum())
    if later:
        log.warning(
            "model '%s' reads each user's history in order, but split '%s' holds out %d items "
            "that come before other interactions of their user: each user's held-out items "
            "are predicted from the history before the first of them, the rest unused; "
            "split.method=leave-one-out or temporal uses every interaction",
            model,
            split.method,
            later,
        )


def item_labels(dataset: Dataset) -> dict[str, np.ndarray]:
    """Per-item auxiliary targets for multi-task models (e.g. the genre multi-hot matrix)."""
    if not dataset.label_columns:
        return {}
    cols = [c for c in dataset.label_columns if c in dataset.items.columns]
    values = dataset.items[cols].to_numpy(dtype=np.float32, na_value=0.0)
    return {"genres": values}


def train_data(prep: Prepared, model: str, device: torch.device) -> TrainData:
    """What model ``model`` is built from: the training part of the split (as user sequences
    too, for sequential models), the features and the item labels."""
    ds = prep.dataset
    sequences = None
    if model_class(model).sequential:
        sequences = dataset_sequences(ds, prep.split.rows(TRAIN))
    return TrainData(
        ds.n_users,
        ds.n_items,
        prep.split.matrix(ds, TRAIN),
        prep.features,
        item_labels(ds),
        device,
        sequences=sequences,
    )


#: The interactions a sequential model's user histories hold when scoring each part: the
#: training ones for validation, training + validation for test (RecBole's protocol: the
#: test item is predicted from everything before it).
HISTORY_PARTS = {VALID: (TRAIN,), TEST: (TRAIN, VALID)}


def scoring_history(prep: Prepared, part: int) -> Sequences:
    """The user sequences a sequential model scores ``part`` (VALID or TEST) from: the parts
    before it (``HISTORY_PARTS``), cut before the user's first held-out item of ``part``, so
    that nothing after a held-out item helps predict it (leave-one-out and temporal splits
    hold out the latest items and lose nothing; a random or cold-items split would otherwise
    predict from the future). A reloaded run scores from the same histories."""
    rows = rows_of_parts(prep.split.labels, HISTORY_PARTS[part])
    order = chronological_positions(prep.dataset)
    users = prep.dataset.interactions[USER].to_numpy()
    held = prep.split.rows(part)
    first = np.full(prep.dataset.n_users, np.iinfo(np.int64).max)
    np.minimum.at(first, users[held], order[held])
    return dataset_sequences(prep.dataset, rows[order[rows] < first[users[rows]]])


def use_history(model: Recommender, prep: Prepared, part: int) -> None:
    """Give a sequential model the user histories to score ``part`` from; other models
    score from what they were trained on and are left alone."""
    if model.sequential:
        model.set_history(scoring_history(prep, part))


def split_evaluators(
    prep: Prepared, config: ExperimentConfig, device: torch.device
) -> tuple[Evaluator, Evaluator, Any]:
    """Validation and test evaluators (and the train matrix) of a prepared split. With a
    ``cold-items`` split each evaluator ranks only its own half of the withheld items, as
    ``fusionrec.evaluate.cold_start.ColdStartProtocol`` does."""
    ds, split = prep.dataset, prep.split
    train, valid, test = (split.matrix(ds, p) for p in (TRAIN, VALID, TEST))
    ks, bu = config.evaluate.ks, config.evaluate.batch_users
    v_cands = t_cands = None
    if split.cold_items is not None:
        v_cands, t_cands = cold_item_halves(split.cold_items, valid, test)
    check_cutoffs(config, ds.n_items, ds.n_items if v_cands is None else len(v_cands))
    select_k = int(config.train.metric.split("@")[1])  # early stopping needs its K
    repeat = config.evaluate.repeat  # repeat consumption: seen items stay rankable
    # arp@K, tail@K, novelty@K and (test only: it is read, not selected on) diversity@K; not
    # on a cold-item split, where every candidate is unrated in training
    popularity = None if v_cands is not None else np.asarray((train != 0).sum(axis=0)).ravel()
    valid_eval = Evaluator(
        valid,
        None if repeat else train,
        ks=sorted({*ks, select_k}),
        batch_users=bu,
        candidates=v_cands,
        device=device,
        item_popularity=popularity,
    )
    test_eval = Evaluator(
        test,
        None if repeat else train + valid,
        ks=ks,
        batch_users=bu,
        candidates=t_cands,
        device=device,
        sampled_negatives=config.evaluate.sampled_negatives,
        known=train + valid + test,
        item_popularity=popularity,
        item_interactions=None if popularity is None else train,
    )
    return valid_eval, test_eval, train


def random_reference(prep: Prepared, config: ExperimentConfig) -> dict[str, float]:
    """Test metrics a uniformly random ranking of the same candidates gets, exactly in
    expectation: the reference a cold-start model must beat."""
    _, test_eval, _ = split_evaluators(prep, config, torch.device("cpu"))
    expected = expected_random_metrics(test_eval)
    return {k: v for k, v in expected.items() if k != "users"}


def machine_info() -> dict[str, Any]:
    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


@contextmanager
def _run_log(path: Path | None) -> Iterator[None]:
    """Copy the package's log records into a seed's ``train.log`` while it trains.

    A program that never configured logging (the Python API, a notebook) would otherwise get
    an empty file: the package logger then inherits WARNING. In that case the logger is
    opened to INFO for the run and warnings go to stderr as logging's last-resort handler
    would have sent them (a handler on the logger switches that one off). A program that
    configured logging keeps its levels and handlers."""
    if path is None:
        yield
        return
    logger = logging.getLogger("fusionrec")
    level, added = logger.level, []
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    added.append(handler)
    if level == logging.NOTSET and not logging.getLogger().handlers:
        logger.setLevel(logging.INFO)
        console = logging.StreamHandler()
        console.setLevel(logging.WARNING)
        added.append(console)
    for h in added:
        logger.addHandler(h)
    try:
        yield
    finally:
        logger.setLevel(level)
        for h in added:
            logger.removeHandler(h)
        handler.close()


def run_seed(
    config: ExperimentConfig,
    prep: Prepared,
    seed: int,
    run_dir: Path | None,
    *,
    progress: bool = True,
    resume: bool = False,
    evaluate_test: bool = True,
    on_eval: Callable[[int, float], None] | None = None,
) -> dict[str, Any]:
    """Train one seed, select on validation, score test once (not at all during tuning);
    ``on_eval`` sees each validation score (``Trainer.on_eval``)."""
    device = resolve_device(config.train.device)
    valid_eval, test_eval, _ = split_evaluators(prep, config, device)
    seed_dir = run_dir / f"seed-{seed}" if run_dir else None
    if seed_dir:
        seed_dir.mkdir(parents=True, exist_ok=True)
    with _run_log(seed_dir / "train.log" if seed_dir else None):
        seed_everything(seed)
        data = train_data(prep, config.model.name, device)
        model = build_model(config.model.name, data, config.model.params)
        use_history(model, prep, VALID)  # early stopping sees no more than test will
        train_cfg = config.train.model_copy(update={"seed": seed})
        t0 = time.perf_counter()
        result = train_model(
            model,
            data,
            valid_eval,
            train_cfg,
            run_dir=seed_dir,
            progress=progress,
            resume=resume,
            on_eval=on_eval,
        )
        train_seconds = time.perf_counter() - t0
        test = None
        if evaluate_test:
            use_history(model, prep, TEST)
            test = evaluate_model(model, test_eval)
        peak = _peak_memory_mb(device)
        record = {
            "seed": seed,
            "best_epoch": result.best_epoch,
            "epochs": result.epochs_run,
            "seconds_per_epoch": result.seconds_per_epoch,
            "cpu_seconds_per_epoch": result.cpu_seconds_per_epoch,
            "seconds_per_eval": result.seconds_per_eval,
            "train_seconds": train_seconds,
            "peak_memory_mb": peak,
            "valid": result.best_valid,
        }
        if test is not None:
            record["test"] = test
        if seed_dir:
            write_json(seed_dir / "metrics.json", record)
            _save_embeddings(model, prep.dataset, seed_dir)
        if test is not None:
            shown = ", ".join(f"{k} {v:.4f}" for k, v in test.items() if k.startswith("recall@"))
            log.info("seed %d: test %s (all metrics in metrics.json)", seed, shown)
        return record


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _save_embeddings(model: Any, dataset: Dataset, seed_dir: Path) -> None:
    """``<side>_embeddings.npy`` with ``<side>_ids.npy``: the external ids of its rows."""
    model.eval()
    for name, fn, ids in (
        ("item", model.item_embeddings, dataset.item_ids),
        ("user", model.user_embeddings, dataset.user_ids),
    ):
        emb = fn()
        if emb is not None:
            write_npy(seed_dir / f"{name}_embeddings.npy", emb.detach().cpu().numpy())
            write_npy(seed_dir / f"{name}_ids.npy", np.asarray([str(i) for i in ids]))


def aggregate(records: list[dict[str, Any]], part: str) -> dict[str, dict[str, float]]:
    """Mean and sample standard deviation (ddof=1; 0 for a single seed) over seeds of every
    metric of ``part``: seeds are a sample of the runs one could have made, not the whole.
    A metric only some seeds have (seeds of a resumed run scored by an older version, before
    the metric existed) is left out of the mean, and said."""
    keys = [k for k in records[0][part] if all(k in r[part] for r in records)]
    partial = sorted({k for r in records for k in r[part]}.difference(keys))
    if partial:
        log.warning(
            "%s metrics %s are not in every seed's record (seeds scored by different "
            "versions); they are left out of the mean over seeds",
            part, ", ".join(partial),
        )  # fmt: skip
    out = {}
    for key in keys:
        mean, std = mean_std([r[part][key] for r in records])
        out[key] = {"mean": mean, "std": std}
    return out


def resolve_run_dir(config: ExperimentConfig, run_dir: str | Path | None = None) -> Path:
    """``run_dir`` if given, else ``<output_dir>/<run name>``."""
    return Path(run_dir) if run_dir else Path(config.output_dir) / config.run_name


def _check_writable(config: ExperimentConfig, run_dir: Path) -> None:
    """Fail now, not after data loading, encoding and training, on an unwritable output."""
    ensure_writable_dir(run_dir, "the run directory", "choose a writable --run-dir (or output_dir)")
    if config.features is not None and config.features.get("modalities") != []:
        from fusionrec.encoders.store import default_cache_dir

        ensure_writable_dir(
            config.features.get("cache_dir") or default_cache_dir(),
            "the feature cache",
            "set a writable features.cache_dir (or $FUSIONREC_CACHE)",
        )


@subnormals_flushed()
def run_experiment(
    config: ExperimentConfig,
    run_dir: str | Path | None = None,
    *,
    prepared: Prepared | None = None,
    progress: bool = True,
    resume: bool = False,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Train every seed of ``config`` and write the run directory; returns ``results``.

    A directory that already holds a run is refused unless ``resume`` (same settings,
    continue from the checkpoints) or ``overwrite`` (remove the old run's files first).
    """
    run_dir = resolve_run_dir(config, run_dir)
    _check_writable(config, run_dir)
    with RunLock(run_dir):
        open_run(run_dir, config, resume=resume, overwrite=overwrite)
        return _run_locked(config, run_dir, prepared, progress, resume)


def _run_locked(
    config: ExperimentConfig,
    run_dir: Path,
    prepared: Prepared | None,
    progress: bool,
    resume: bool,
) -> dict[str, Any]:
    write_text(run_dir / "config.yaml", dump_config(config))
    prep = prepared or prepare(config, run_dir, progress)
    warn_unordered_split(config.model.name, prep.dataset, prep.split)
    if prepared is not None and not (run_dir / SPLIT_FILE).exists():
        prep.split.save(run_dir, prep.dataset)
    records = []
    for seed in config.seeds:
        records.append(run_seed(config, prep, seed, run_dir, progress=progress, resume=resume))
    results = {
        "model": config.model.name,
        "dataset": prep.dataset.name,
        "seeds": config.seeds,
        #: nothing masked (repeat consumption), or the user's seen items (the default)
        "repeat": config.evaluate.repeat,
        "per_seed": records,
        "valid": aggregate(records, "valid"),
        "test": aggregate(records, "test"),
    }
    if prep.split.cold_items is not None:
        results["random"] = random_reference(prep, config)
    write_json(run_dir / "results.json", results)
    write_manifest(run_dir, config, prep, results)
    return results


def run_or_continue(
    config: ExperimentConfig,
    run_dir: Path,
    prep: Prepared,
    progress: bool = False,
    resume: bool = True,
) -> dict[str, Any]:
    """``run_experiment`` for work that outlives a session (searches, benchmarks): with
    ``resume``, a finished run of exactly ``config`` in ``run_dir`` is read back, an
    unfinished one continued from its checkpoints, and anything else replaced."""
    if resume and (run_dir / CONFIG).exists():
        saved = yaml.safe_load((run_dir / CONFIG).read_text(encoding="utf-8"))
        same = not config_differences(saved, yaml.safe_load(dump_config(config)))
        if same and (run_dir / RESULTS).exists():
            log.info("reusing the finished run in %s", run_dir)
            return read_json(run_dir / RESULTS)
        if same and holds_run(run_dir):
            return run_experiment(config, run_dir, prepared=prep, progress=progress, resume=True)
    return run_experiment(config, run_dir, prepared=prep, progress=progress, overwrite=True)


def write_manifest(
    run_dir: Path, config: ExperimentConfig, prep: Prepared, results: dict[str, Any]
) -> None:
    files = sorted(
        str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file() and p.name != LOCK
    )
    write_json(
        run_dir / "manifest.json",
        {
            "fusionrec_version": __import__("fusionrec").__version__,
            "code": code_version(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "dataset": {
                "name": prep.dataset.name,
                "users": prep.dataset.n_users,
                "items": prep.dataset.n_items,
                "interactions": len(prep.dataset.interactions),
                "cleaning_log": prep.dataset.log,
            },
            "split": {
                "method": prep.split.method,
                "counts": prep.split.counts(),
                "file": SPLIT_FILE,
                "sha256": split_digest(run_dir),
            },
            "features": prep.features_report,
            "model": {"name": config.model.name, "params": config.model.params},
            "seeds": config.seeds,
            "test_summary": {k: v["mean"] for k, v in results["test"].items()},
            "machine": machine_info(),
            "files": files,
        },
    )
