"""Run RecBole 1.2.1 on exactly the split fusionrec uses, for side-by-side benchmarks.

RecBole is an optional benchmark dependency (``pip install -e '.[bench]'``). Version 1.2.1
predates numpy 2, SciPy >= 1.14 and torch's ``weights_only`` default, so ``apply_shims``
patches those gaps at run time, here and never in the package:

- numpy 2 removed the ``np.float_``/``np.complex_``/``np.unicode_`` names RecBole's config
  assigns to the old ``np.float``/``np.int``/... aliases;
- SciPy 1.14 removed ``spmatrix.A`` and ``dok_matrix._update``, which RecBole's graph
  models call;
- torch >= 2.6 loads checkpoints with ``weights_only=True``, which rejects RecBole's pickled
  config when the trainer reloads its best epoch;
- pandas >= 2 ``Series.agg(len)`` is the series' length, which breaks token-sequence
  columns (the histories of sequential benchmark files).

``recbole.quick_start`` imports Ray (and through it ``pkg_resources``), so this module uses
RecBole's lower-level pieces (``Config``, ``create_dataset``, ``data_preparation``, the
model class and its trainer) instead.

The split is handed over as RecBole "benchmark files" (``<name>.train.inter``,
``.valid.inter``, ``.test.inter``), written from fusionrec's own split so both toolkits see
the same interactions; RecBole then ranks all items, masks training (and, for test,
validation) interactions, and early-stops on valid Recall@20 as fusionrec does.

A run survives being stopped (a session's end inside a CPU run of hours): after every
validation it saves what the next epoch starts from (weights, optimiser, early-stopping
counters, every random state, the timings so far) in ``<checkpoint_dir>/<model>-seed<seed>``,
and a later call with the same settings continues from there, to the same numbers as a run
never stopped.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

_SHIMMED = False


def apply_shims() -> None:
    """Patch the numpy / SciPy / torch gaps RecBole 1.2.1 falls into (idempotent)."""
    global _SHIMMED
    if _SHIMMED:
        return
    # RecBole's Config.compatibility_settings assigns np.float = np.float_ etc.; numpy 2
    # removed the underscore names too, so both spellings are restored.
    for alias, real in (
        ("float_", np.float64),
        ("complex_", np.complex128),
        ("unicode_", np.str_),
        ("float", float),
        ("int", int),
        ("bool", bool),
        ("long", int),
        ("complex", complex),
        ("object", object),
        ("str", str),
        ("unicode", str),
    ):
        if alias not in np.__dict__:
            setattr(np, alias, real)
    import scipy.sparse as sp

    for cls in (sp.spmatrix, sp.coo_matrix, sp.csr_matrix, sp.csc_matrix, sp.dok_matrix):
        if not hasattr(cls, "A"):
            cls.A = property(lambda self: self.toarray())
    if not hasattr(sp.dok_matrix, "_update"):
        # LightGCN and other graph models fill their adjacency with dok._update(dict).
        sp.dok_matrix._update = lambda self, entries: self._dict.update(entries)
    import torch

    original_load = torch.load

    @functools.wraps(original_load)
    def load(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("weights_only", False)
        return original_load(*args, **kwargs)

    torch.load = load
    _shim_token_sequences()
    # Importing RecBole's sequential models (SINE's module) switches autograd's anomaly
    # detection on for the whole process: every later backward pass, RecBole's and
    # fusionrec's alike, then records and checks each op (slower, and a NaN raises).
    # Import them here, once, and put the switch back.
    anomaly = torch.is_anomaly_enabled()
    import recbole.model.sequential_recommender  # noqa: F401
    import recbole.trainer.trainer as recbole_trainer

    torch.autograd.set_detect_anomaly(anomaly)

    recbole_trainer.get_tensorboard = lambda logger: _NoTensorBoard()
    _SHIMMED = True


class _NoTensorBoard:
    """Stands in for RecBole's TensorBoard writer, which writes ``./log_tensorboard`` into
    whatever directory the benchmark runs from (lazily, from a background thread)."""

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


def _shim_token_sequences() -> None:
    """pandas >= 2 ``Series.agg(len)`` returns the series' length, not each row's, which
    breaks RecBole's token-sequence columns (``item_id_list`` of sequential benchmark
    files); the two methods that use it are redefined with ``Series.map(len)``."""
    import pandas as pd
    from recbole.data.dataset import Dataset, SequentialDataset
    from recbole.utils import FeatureSource, FeatureType

    def _remap(self: Any, remap_list: list) -> None:
        if len(remap_list) == 0:
            return
        tokens, split_point = self._concat_remaped_tokens(remap_list)
        new_ids_list, mp = pd.factorize(tokens)
        new_ids_list = np.split(new_ids_list + 1, split_point)
        mp = np.array(["[PAD]", *mp])
        token_id = {t: i for i, t in enumerate(mp)}
        for (feat, column, ftype), new_ids in zip(remap_list, new_ids_list, strict=True):
            if column not in self.field2id_token:
                self.field2id_token[column] = mp
                self.field2token_id[column] = token_id
            if ftype == FeatureType.TOKEN:
                feat[column] = new_ids
            elif ftype == FeatureType.TOKEN_SEQ:
                lengths = np.cumsum(feat[column].map(len).to_numpy())[:-1]
                feat[column] = pd.Series(np.split(new_ids, lengths), index=feat.index)

    def _benchmark_presets(self: Any) -> None:
        list_suffix = self.config["LIST_SUFFIX"]
        for column in self.inter_feat:
            if column + list_suffix in self.inter_feat:
                setattr(self, f"{column}_list_field", column + list_suffix)
        self.set_field_property(
            self.item_list_length_field, FeatureType.TOKEN, FeatureSource.INTERACTION, 1
        )
        lists = self.inter_feat[self.item_id_list_field]
        self.inter_feat[self.item_list_length_field] = lists.map(len)

    Dataset._remap = _remap
    SequentialDataset._benchmark_presets = _benchmark_presets


def drop_stale(path: Path, settings: dict[str, Any], may_train: bool) -> None:
    """A cached RecBole run at ``path`` made with other settings than ``settings`` (those it
    records; one cached before they were recorded counts as made with them) is deleted, so
    it trains again, or refused where nothing may train (collecting a table)."""
    if not path.exists() or json.loads(path.read_text()).get("settings", settings) == settings:
        return
    if not may_train:
        raise SystemExit(f"{path}: RecBole ran with other settings than the study's")
    path.unlink()


def write_benchmark_files(
    directory: Path, name: str, parts: dict[str, tuple[np.ndarray, np.ndarray]]
) -> Path:
    """Write ``parts`` (``train``/``valid``/``test`` -> user and item index arrays) as RecBole
    atomic benchmark files under ``directory/name`` and return that folder's parent."""
    folder = directory / name
    folder.mkdir(parents=True, exist_ok=True)
    for part, (users, items) in parts.items():
        lines = ["user_id:token\titem_id:token"]
        lines += [f"{u}\t{i}" for u, i in zip(users.tolist(), items.tolist(), strict=True)]
        (folder / f"{name}.{part}.inter").write_text("\n".join(lines) + "\n")
    return directory


@dataclass
class RecBoleResult:
    model: str
    valid: dict[str, float]
    test: dict[str, float]
    best_epoch: int
    epochs_run: int
    train_seconds: list[float] = field(default_factory=list)  # wall, per epoch
    train_cpu_seconds: list[float] = field(default_factory=list)
    eval_seconds: list[float] = field(default_factory=list)
    valid_curve: list[float] = field(default_factory=list)  # valid_metric per evaluation
    #: sequential runs: each test user's metrics (``per_user_test``), for paired comparisons
    per_user_test: dict[str, list] | None = None
    #: evaluates the trained model on the validation split again (for timing evaluation)
    evaluate_valid: Callable[[], Any] | None = field(default=None, repr=False)

    def numbers(self) -> dict[str, Any]:
        """Everything but ``evaluate_valid``: what a benchmark caches as JSON."""
        return {k: v for k, v in vars(self).items() if not callable(v)}


def write_sequence_files(
    directory: Path,
    name: str,
    parts: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    pad: int,
) -> Path:
    """Write ``parts`` (``train``/``valid``/``test`` -> users, item windows [n, L] padded
    with ``pad``, target items) as RecBole's pre-augmented sequential benchmark files: one
    row per next-item example, ``item_id_list`` the history before the target, oldest
    first. Returns ``directory``."""
    folder = directory / name
    folder.mkdir(parents=True, exist_ok=True)
    for part, (users, windows, targets) in parts.items():
        lines = ["user_id:token\titem_id_list:token_seq\titem_id:token"]
        for u, window, target in zip(users.tolist(), windows, targets.tolist(), strict=True):
            history = " ".join(str(i) for i in window[window != pad].tolist())
            lines.append(f"{u}\t{history}\t{target}")
        (folder / f"{name}.{part}.inter").write_text("\n".join(lines) + "\n")
    return directory


#: examples per optimiser step in every RecBole run here (RecBole's own default)
TRAIN_BATCH = 2048


def _settings(data_root: Path, name: str, **given: Any) -> dict[str, Any]:
    """RecBole settings shared by general and sequential runs (``given`` overrides)."""
    settings: dict[str, Any] = {
        "data_path": str(data_root),
        "dataset": name,
        "benchmark_filename": ["train", "valid", "test"],
        "train_batch_size": TRAIN_BATCH,
        "eval_batch_size": 4096,
        "learning_rate": 1e-3,
        "embedding_size": 64,
        "reproducibility": True,
        "metrics": ["Recall", "NDCG"],
        "valid_metric": "Recall@20",
        "checkpoint_dir": str(data_root / "recbole-saved"),
        "show_progress": False,
        "log_wandb": False,
        "state": "ERROR",
    }
    settings.update(given)
    settings["use_gpu"] = settings.get("device", "cpu") != "cpu"
    return settings


def run_general(
    model: str,
    data_root: Path,
    name: str,
    *,
    epochs: int,
    params: dict[str, Any] | None = None,
    seed: int = 2026,
    eval_step: int = 1,
    patience: int = 20,
    topk: tuple[int, ...] = (10, 20, 50),
    device: str = "cpu",
    checkpoint_dir: Path | None = None,
) -> RecBoleResult:
    """Train and test one RecBole general recommender on the benchmark files of ``name``.

    ``params`` override RecBole's model defaults (``embedding_size``, ``learning_rate``,
    ``n_layers``, ``reg_weight``, ``train_batch_size``...). Per-epoch training time is
    measured around RecBole's own ``_train_epoch``; evaluation time around ``evaluate``.
    """
    settings = _settings(
        data_root,
        name,
        load_col={"inter": ["user_id", "item_id"]},
        epochs=epochs,
        stopping_step=patience,
        eval_step=eval_step,
        seed=seed,
        topk=list(topk),
        eval_args={"split": None, "order": "RO", "group_by": "user", "mode": "full"},
        train_neg_sample_args={"distribution": "uniform", "sample_num": 1},
        device=device,
        checkpoint_dir=str(checkpoint_dir or data_root / "recbole-saved"),
    )
    return _train_and_test(model, name, {**settings, **(params or {})})


def run_sequential(
    model: str,
    data_root: Path,
    name: str,
    *,
    epochs: int,
    max_length: int = 50,
    params: dict[str, Any] | None = None,
    seed: int = 2026,
    eval_step: int = 1,
    patience: int = 20,
    topk: tuple[int, ...] = (10, 20),
    valid_metric: str = "NDCG@10",
    device: str = "cpu",
    checkpoint_dir: Path | None = None,
) -> RecBoleResult:
    """Train and test one RecBole sequential recommender (SASRec, GRU4Rec...) on the
    pre-augmented files of ``name`` (``write_sequence_files``).

    Time order is in the files (each row's history), so RecBole's ``eval_args`` order is
    'TO' and no augmentation runs. Loss is RecBole's default for the model (CE for SASRec
    and GRU4Rec), so no negatives are sampled. RecBole's sequential full ranking masks
    nothing: compare with fusionrec runs made with ``evaluate.repeat: true``.
    """
    settings = _settings(
        data_root,
        name,
        load_col={"inter": ["user_id", "item_id_list", "item_id"]},
        alias_of_item_id=["item_id_list"],
        MAX_ITEM_LIST_LENGTH=max_length,
        epochs=epochs,
        stopping_step=patience,
        eval_step=eval_step,
        seed=seed,
        topk=list(topk),
        metrics=["Recall", "NDCG", "Hit", "MRR"],
        valid_metric=valid_metric,
        eval_args={"split": None, "order": "TO", "group_by": "user", "mode": "full"},
        train_neg_sample_args=None,
        device=device,
        checkpoint_dir=str(checkpoint_dir or data_root / "recbole-saved"),
    )
    return _train_and_test(model, name, {**settings, **(params or {})})


def _train_and_test(model: str, name: str, settings: dict[str, Any]) -> RecBoleResult:
    """Build, train (early stopping on ``valid_metric``) and test; per-epoch timings."""
    apply_shims()
    import torch
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import ModelType, get_model, get_trainer, init_seed

    config = Config(model=model, dataset=name, config_dict=settings)
    logging.getLogger().setLevel(logging.ERROR)
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    init_seed(config["seed"], config["reproducibility"])
    net = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, net)
    train_wall: list[float] = []
    train_cpu: list[float] = []
    eval_wall: list[float] = []
    valid_curve: list[float] = []
    original_epoch, original_eval = trainer._train_epoch, trainer.evaluate
    valid_key = settings["valid_metric"].lower()

    def timed_epoch(*args: Any, **kwargs: Any) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        out = original_epoch(*args, **kwargs)
        train_wall.append(time.perf_counter() - wall)
        train_cpu.append(time.process_time() - cpu)
        return out

    def timed_eval(*args: Any, **kwargs: Any) -> Any:
        wall = time.perf_counter()
        out = original_eval(*args, **kwargs)
        eval_wall.append(time.perf_counter() - wall)
        valid_curve.append(float(dict(out)[valid_key]))
        return out

    trainer._train_epoch, trainer.evaluate = timed_epoch, timed_eval
    torch.set_num_threads(torch.get_num_threads())  # RecBole leaves the thread count alone
    curves = {"train": train_wall, "cpu": train_cpu, "eval": eval_wall, "valid": valid_curve}
    folder = Path(settings["checkpoint_dir"]) / f"{model}-seed{settings['seed']}"
    progress = _Progress(folder, trainer, train_data, settings, curves)
    if not progress.restore():
        trainer.fit(train_data, valid_data, verbose=False, saved=True, callback_fn=progress.save)
    best_valid = trainer.best_valid_result
    test = trainer.evaluate(test_data, load_best_model=True, show_progress=False)
    eval_wall.pop()  # the test evaluation is not a per-epoch validation
    valid_curve.pop()
    per_user = None
    if config["MODEL_TYPE"] == ModelType.SEQUENTIAL:
        per_user = per_user_test(trainer.model, test_data, config["topk"], config["device"])
        check_per_user(per_user, {k.lower(): float(v) for k, v in dict(test).items()})
    return RecBoleResult(
        model=model,
        valid={k.lower(): float(v) for k, v in dict(best_valid).items()},
        test={k.lower(): float(v) for k, v in dict(test).items()},
        best_epoch=(int(np.argmax(valid_curve)) + 1) * settings["eval_step"],
        epochs_run=len(train_wall),
        train_seconds=train_wall,
        train_cpu_seconds=train_cpu,
        eval_seconds=eval_wall,
        valid_curve=valid_curve,
        evaluate_valid=lambda: original_eval(valid_data, load_best_model=False),
        per_user_test=per_user,
    )


def per_user_test(model: Any, test_data: Any, ks: list[int], device: Any) -> dict[str, list]:
    """Each test user's Recall, NDCG, Hit and MRR at ``ks`` from ``model``'s full ranking
    of ``test_data`` (a sequential loader: one held-out item per row, nothing masked), found
    the way RecBole's evaluator finds them (``torch.topk`` of the scores, the padding item
    excluded), keyed by the user tokens of the benchmark files (fusionrec's user indices)."""
    import torch

    dataset = test_data._dataset
    users, positions = [], []
    model.eval()
    with torch.no_grad():
        for interaction, history, _rows, targets in test_data:
            if history is not None:
                raise ValueError("per_user_test scores sequential runs, which mask nothing")
            scores = model.full_sort_predict(interaction.to(device)).view(len(targets), -1)
            scores[:, 0] = -torch.inf
            top = torch.topk(scores, max(ks), dim=-1).indices.cpu()
            found = top == targets.view(-1, 1)
            # 0-based place of the held-out item in the top list, max(ks) where it is not
            positions.append(torch.where(found.any(1), found.int().argmax(1), max(ks)))
            uid = interaction[dataset.uid_field].cpu().numpy()
            users += [int(t) for t in dataset.id2token(dataset.uid_field, uid)]
    place = torch.cat(positions).numpy()
    out: dict[str, list] = {"users": users}
    for k in ks:
        hit = place < k
        out[f"recall@{k}"] = out[f"hit@{k}"] = hit.astype(float).tolist()
        out[f"ndcg@{k}"] = np.where(hit, 1.0 / np.log2(place + 2.0), 0.0).tolist()
        out[f"mrr@{k}"] = np.where(hit, 1.0 / (place + 1.0), 0.0).tolist()
    return out


def check_per_user(per_user: dict[str, list], test: dict[str, float]) -> None:
    """The per-user scores must average to what RecBole's evaluator reported, or they are not
    the numbers of the model the table shows."""
    for name, value in test.items():
        mean = float(np.mean(per_user[name]))
        if abs(mean - value) > 1e-4:
            raise RuntimeError(
                f"per-user test {name} averages {mean:.6f}, RecBole reported {value:.6f}"
            )


class _Progress:
    """Where a RecBole run is, saved after each validation into ``resume.pth`` in the run's
    own folder and put back by the next run with the same settings, so it continues with the
    epoch after: the best weights live in ``best.pth`` beside it (RecBole's own best-epoch
    file, given a fixed name here so a new process finds it; a copy travels in the state)."""

    def __init__(
        self,
        folder: Path,
        trainer: Any,
        train_data: Any,
        settings: dict[str, Any],
        curves: dict[str, list[float]],
    ) -> None:
        self.path, self.trainer, self.loader = folder / "resume.pth", trainer, train_data
        self.settings = json.loads(json.dumps(settings, default=str))
        self.curves = curves
        folder.mkdir(parents=True, exist_ok=True)
        trainer.saved_model_file = str(folder / "best.pth")

    def save(self, epoch: int, _score: float) -> None:
        import torch

        t = self.trainer
        state = {
            "settings": self.settings,
            "epoch": epoch,
            "cur_step": t.cur_step,
            "best_valid_score": t.best_valid_score,
            "best_valid_result": t.best_valid_result,
            "model": t.model.state_dict(),
            "optimizer": t.optimizer.state_dict(),
            # none yet when no validation has improved on the start (a NaN score)
            "best": (
                torch.load(t.saved_model_file, map_location="cpu")
                if Path(t.saved_model_file).exists()
                else None
            ),
            "curves": self.curves,
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                "numpy": np.random.get_state(),
                "python": random.getstate(),
                "loader": self.loader.generator.get_state(),
            },
        }
        tmp = self.path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.path)  # a stop mid-write leaves the last whole state

    def restore(self) -> bool:
        """Put the saved state back (nothing if there is none, or it is of other settings);
        True when that run had already finished training (early stopping or its last epoch),
        so only its test remains."""
        import torch

        if not self.path.exists():
            return False
        state = torch.load(self.path, map_location="cpu")
        if state.get("settings") != self.settings:
            print(f"{self.path}: saved with other settings; this run starts from epoch 0")
            return False
        t = self.trainer
        t.model.load_state_dict(state["model"])
        t.optimizer.load_state_dict(state["optimizer"])
        t.start_epoch, t.cur_step = state["epoch"] + 1, state["cur_step"]
        t.best_valid_score, t.best_valid_result = (
            state["best_valid_score"],
            state["best_valid_result"],
        )
        if state["best"] is not None:
            torch.save(state["best"], t.saved_model_file)
        for key, values in state["curves"].items():
            self.curves[key][:] = values
        rng = state["rng"]
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        np.random.set_state(rng["numpy"])
        random.setstate(rng["python"])
        self.loader.generator.set_state(rng["loader"])
        print(f"{self.path}: continuing from epoch {t.start_epoch}")
        return t.cur_step > t.stopping_step or t.start_epoch >= t.epochs
