"""One trainer for every model: seeding, negative sampling, early stopping on validation,
atomic checkpoints, resume, progress and logging.

Model selection uses the validation evaluator only; the test split is never touched here.
"""

from __future__ import annotations

import logging
import os
import pickle
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fusionrec.config import TrainConfig
from fusionrec.errors import ConfigError, FusionrecError
from fusionrec.evaluate import Evaluator
from fusionrec.io import read_json, save_torch, write_json
from fusionrec.models.base import Recommender, TrainData
from fusionrec.progress import ProgressReporter
from fusionrec.train.sampling import NegativeSampler
from fusionrec.train.subnormals import subnormals_flushed

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"
BEST = "best.pt"
BEST_INFO = "best.json"  # epoch and validation value of the weights in best.pt


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training, with where the run can be resumed from: ``checkpoint`` (None
    when none was written yet) holds the state after ``epoch``."""

    def __init__(self, checkpoint: Path | None, epoch: int) -> None:
        super().__init__(f"interrupted; last checkpoint {checkpoint} (epoch {epoch})")
        self.checkpoint = checkpoint
        self.epoch = epoch


def load_checkpoint(path: Path, device: torch.device | str, fix: str) -> Any:
    """``torch.load`` whose failure on a truncated or corrupt file is one clear error naming
    the file; ``fix`` says what to do about it."""
    try:
        return torch.load(path, map_location=device, weights_only=False)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise FusionrecError(f"{path} is truncated or corrupt ({reason}); {fix}") from None


def load_weights(model: torch.nn.Module, state: Any, path: Path, fix: str) -> None:
    """``model.load_state_dict`` whose failure names the file the weights came from."""
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError, KeyError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise FusionrecError(f"{path} does not fit the model ({reason}); {fix}") from None


@dataclass
class TrainResult:
    best_epoch: int
    best_valid: dict[str, float]
    history: list[dict[str, Any]] = field(default_factory=list)
    epochs_run: int = 0
    seconds_per_epoch: float = 0.0
    #: CPU seconds of this process (all its threads) per training epoch: beside the wall
    #: time it tells a run that waited for a shared core from one that used several
    cpu_seconds_per_epoch: float = 0.0
    seconds_per_eval: float = 0.0
    stopped_early: bool = False


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def inference_device(name: str) -> torch.device:
    """Where a *trained* run's model is loaded: its training device when this machine has it,
    else the CPU. A run trained on a GPU box must still load on a laptop for evaluation,
    export and serving (its weights are loaded with ``map_location``)."""
    if name == "cuda" and not torch.cuda.is_available():
        log.info("the run trained on CUDA; this machine has none, so it is loaded on the CPU")
        return torch.device("cpu")
    return resolve_device(name)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "train.device is 'cuda' but this machine has no usable CUDA device; use "
            "train.device=auto (a GPU when there is one) or cpu"
        )
    return torch.device(name)


def adam(params: list[torch.nn.Parameter], config: TrainConfig) -> torch.optim.Adam:
    """Adam with its fused kernel where every parameter allows it: one pass over each tensor
    instead of six, the same update rule (about 8x faster a step on CPU, which dominates an
    MF-BPR epoch; see docs/performance.md)."""
    fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    return torch.optim.Adam(
        params, lr=config.lr, weight_decay=config.weight_decay, fused=fused or None
    )


def cpu_threads(config: TrainConfig) -> int:
    """``train.threads``, or every core this process may run on."""
    return config.threads or len(os.sched_getaffinity(0))


def evaluate_model(model: Recommender, evaluator: Evaluator) -> dict[str, float]:
    """Evaluate in eval mode (so graph models propagate once), then restore the mode."""
    was_training = model.training
    model.eval()
    try:
        return evaluator.evaluate(model.score)
    finally:
        model.train(was_training)


class Trainer:
    """Trains ``model`` on ``data`` and keeps the weights of the best validation evaluation."""

    def __init__(
        self,
        model: Recommender,
        data: TrainData,
        valid: Evaluator,
        config: TrainConfig,
        *,
        run_dir: str | Path | None = None,
        progress: bool = True,
        on_eval: Callable[[int, float], None] | None = None,
    ) -> None:
        self.model = model
        self.data = data
        self.valid = valid
        self.cfg = config
        self.run_dir = Path(run_dir) if run_dir else None
        self.progress = progress
        #: called with (epoch, validation ``train.metric``) after each evaluation, those of
        #: a resumed run's earlier epochs first; whatever it raises ends the run (a search
        #: stops a poor trial this way)
        self.on_eval = on_eval
        self.checkpoint_epoch = 0  # epoch of the state in checkpoint.pt (0: none written yet)
        self._last_save = time.monotonic()  # when the last checkpoint was written
        self._best_saved = 0  # epoch of the weights in best.pt as this run wrote or restored it
        #: (epoch, the file's inode before) while a checkpoint is being written
        self._writing: tuple[int, int | None] | None = None
        self.device = next(iter(model.parameters()), torch.zeros(0)).device
        self.positions: np.ndarray | None = None
        if model.sequential:
            # next-item examples: every training interaction with an earlier one of its user,
            # by its position in the user sequences (the model reads the prefix from there)
            seqs = data.sequences
            self.positions = model.train_positions()
            self.train_users = seqs.owners[self.positions]
            self.train_items = seqs.items[self.positions]
        else:
            coo = data.train_matrix.tocoo()
            self.train_users = coo.row.astype(np.int64)
            self.train_items = coo.col.astype(np.int64)
        self.rng = np.random.default_rng(config.seed)
        self.sampler = NegativeSampler(data.train_matrix, self.rng)
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = adam(params, config) if params and model.trainable else None

    # -- checkpoints ----------------------------------------------------------------------
    def _checkpoint_due(self, epoch: int, last: bool) -> bool:
        """After the last epoch always; otherwise every ``checkpoint_every`` epochs once
        ``checkpoint_seconds`` have passed since the last one: a large model (DiffMM's
        checkpoint is about half a gigabyte on a 10k-item catalogue) then does not spend a
        sixth of its time writing state that the next epoch replaces
        (benchmarks/results/checkpoints.md)."""
        if self.run_dir is None:
            return False
        if last:
            return True
        waited = time.monotonic() - self._last_save >= self.cfg.checkpoint_seconds
        return epoch % self.cfg.checkpoint_every == 0 and waited

    def _save_checkpoint(self, epoch: int, best: dict[str, Any], history: list) -> None:
        """best.pt and best.json, when the best moved since they were written, then the
        checkpoint: a stop between the two resumes from the older checkpoint, which puts
        its own best weights back."""
        if best["epoch"] and best["epoch"] != self._best_saved:
            self._write_best(best["state"], best)
        path = self.run_dir / CHECKPOINT
        self._writing = (epoch, _inode(path))
        save_torch(path, self._state(epoch, best, history))
        self.checkpoint_epoch = epoch
        self._writing = None
        self._last_save = time.monotonic()

    def saved_epoch(self) -> int:
        """The epoch of the state in checkpoint.pt, also when Ctrl-C lands between the
        file's atomic rename and the bookkeeping after it (the new file is then in place:
        a new inode)."""
        if self._writing is not None:
            epoch, before = self._writing
            if _inode(self.run_dir / CHECKPOINT) not in (None, before):
                return epoch
        return self.checkpoint_epoch

    def _state(self, epoch: int, best: dict[str, Any], history: list[dict[str, Any]]) -> dict:
        return {
            "epoch": epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict() if self.optimizer else None,
            "model_training": self.model.training_state(),
            "best": {k: v for k, v in best.items() if k != "state"},
            # None when there is no best yet, or when it is this epoch's (the weights above)
            "best_model": None if best["epoch"] in (0, epoch) else best["state"],
            "history": history,
            "rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
        }

    def _resumed_best(self, state: dict[str, Any], path: Path) -> Any:
        """The best weights of the checkpoint being resumed from, with best.pt and best.json
        made theirs.

        best.pt may belong to an epoch after the checkpoint (one written by an older version
        at every improvement, or a stop between writing best.pt and the checkpoint), which
        the resumed run will train again and may score otherwise: left alone, its results
        would name the checkpoint's best epoch while test scoring and ``recommend`` used
        the later weights."""
        best = state["best"]
        if not best["epoch"]:  # nothing evaluated yet at the checkpoint
            for name in (BEST, BEST_INFO):
                (self.run_dir / name).unlink(missing_ok=True)
            return None
        if "best_model" not in state:  # a checkpoint from before it carried the best weights
            return self._old_best(state, path)
        weights = state["model"] if best["epoch"] == state["epoch"] else state["best_model"]
        self._write_best(weights, best)
        return weights

    def _write_best(self, weights: Any, best: dict[str, Any]) -> None:
        save_torch(self.run_dir / BEST, weights)
        write_json(
            self.run_dir / BEST_INFO, {"epoch": best["epoch"], self.cfg.metric: best["value"]}
        )
        self._best_saved = best["epoch"]

    def _old_best(self, state: dict[str, Any], path: Path) -> Any:
        """An old checkpoint can put best.pt back only when its best is its own epoch;
        otherwise best.pt's weights are kept, and when they are a later epoch's, that is
        said, not silently kept."""
        best = state["best"]
        if best["epoch"] == state["epoch"]:
            self._write_best(state["model"], best)
            return state["model"]
        info = self.run_dir / BEST_INFO
        saved = read_json(info).get("epoch") if info.exists() else None
        if saved not in (None, best["epoch"]):
            log.warning(
                "%s is epoch %s's, later than %s (epoch %d), whose older format keeps no "
                "best weights: unless the resumed run finds a better epoch, its results name "
                "epoch %d but use those weights; start over with --overwrite for a "
                "consistent run",
                self.run_dir / BEST,
                saved,
                path,
                state["epoch"],
                best["epoch"],
            )
        fix = "start the run over with --overwrite"
        if not (self.run_dir / BEST).exists():
            raise FusionrecError(
                f"{path} (an older format) names best epoch {best['epoch']} but keeps no best "
                f"weights, and {self.run_dir / BEST} is gone; {fix}"
            )
        self._best_saved = saved or best["epoch"]
        return load_checkpoint(self.run_dir / BEST, self.device, fix)

    def _resume(self) -> tuple[int, dict[str, Any], list[dict[str, Any]]]:
        path = self.run_dir / CHECKPOINT if self.run_dir else None
        if path is None or not path.exists():
            return 0, {"epoch": 0, "value": -np.inf, "metrics": {}, "bad": 0}, []
        fix = "delete it to restart this seed from scratch, or start over with --overwrite"
        state = load_checkpoint(path, self.device, fix)
        if not isinstance(state, dict) or not {"model", "epoch", "best"} <= state.keys():
            raise FusionrecError(f"{path} is not a fusionrec checkpoint; {fix}")
        load_weights(self.model, state["model"], path, fix)
        if self.optimizer and state["optimizer"]:
            self.optimizer.load_state_dict(state["optimizer"])
        self.model.load_training_state(state.get("model_training", {}))
        self.rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        best = {**state["best"], "state": self._resumed_best(state, path)}
        log.info("resumed from %s at epoch %d", path, state["epoch"])
        self.checkpoint_epoch = state["epoch"]
        return state["epoch"], best, state["history"]

    # -- training -------------------------------------------------------------------------
    def _batches(self):
        order = self.rng.permutation(len(self.train_users))
        bs = self.cfg.batch_size
        for start in range(0, len(order), bs):
            idx = order[start : start + bs]
            users = self.train_users[idx]
            batch = {
                "users": torch.from_numpy(users).to(self.device),
                "pos_items": torch.from_numpy(self.train_items[idx]).to(self.device),
            }
            if self.positions is not None:
                batch["positions"] = torch.from_numpy(self.positions[idx]).to(self.device)
            if self.model.needs_negatives:
                neg = self.sampler.sample(users, self.cfg.n_negatives)
                neg = neg[:, 0] if self.cfg.n_negatives == 1 else neg
                batch["neg_items"] = torch.from_numpy(neg).to(self.device)
            yield batch

    def train_epoch(self, epoch: int) -> float:
        """One pass over the training interactions; the mean loss (benchmarks time it)."""
        self.model.train()
        self.model.on_epoch_start(epoch)
        total, count = 0.0, 0
        for batch in self._batches():
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.model.calculate_loss(batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"loss became {loss.item()} at epoch {epoch}; lower train.lr or check inputs"
                )
            loss.backward()
            self.optimizer.step()
            total += float(loss.detach()) * len(batch["users"])
            count += len(batch["users"])
        return total / max(1, count)

    def fit(self, resume: bool = False) -> TrainResult:
        cfg = self.cfg
        if not self.model.trainable:  # closed form: its one "epoch" is the fit
            t0, c0 = time.perf_counter(), time.process_time()
            self.model.fit(self.data)
            t1, c1 = time.perf_counter(), time.process_time()
            metrics = evaluate_model(self.model, self.valid)
            return TrainResult(
                best_epoch=1,
                best_valid=metrics,
                history=[{"epoch": 1, **metrics}],
                epochs_run=1,
                seconds_per_epoch=t1 - t0,
                cpu_seconds_per_epoch=c1 - c0,
                seconds_per_eval=time.perf_counter() - t1,
            )
        if self.optimizer is None:
            raise RuntimeError(f"model '{self.model.name}' has no trainable parameters")
        start_epoch, best, history = (
            self._resume()
            if resume
            else (0, {"epoch": 0, "value": -np.inf, "metrics": {}, "bad": 0}, [])
        )
        epochs_run = start_epoch
        self._last_save = time.monotonic()
        stopped = best["bad"] >= cfg.patience  # a resumed run that had already stopped early
        if self.on_eval:
            for done in history:
                if f"valid_{cfg.metric}" in done:
                    self.on_eval(done["epoch"], done[f"valid_{cfg.metric}"])
        with ProgressReporter(self.progress, logger=log) as bar:
            task = bar.add(self.model.name, cfg.epochs, unit="epochs", completed=start_epoch)
            first = cfg.epochs + 1 if stopped else start_epoch + 1
            for epoch in range(first, cfg.epochs + 1):
                t0, c0 = time.perf_counter(), time.process_time()
                loss = self.train_epoch(epoch)
                record: dict[str, Any] = {
                    "epoch": epoch,
                    "loss": loss,
                    "seconds": time.perf_counter() - t0,
                    "cpu_seconds": time.process_time() - c0,
                }
                if epoch % cfg.eval_every == 0 or epoch == cfg.epochs:
                    t0 = time.perf_counter()
                    metrics = evaluate_model(self.model, self.valid)
                    record["eval_seconds"] = time.perf_counter() - t0
                    if cfg.metric not in metrics:
                        raise ValueError(
                            f"train.metric '{cfg.metric}' is not computed; evaluated: "
                            f"{sorted(metrics)}"
                        )
                    value = metrics[cfg.metric]
                    record.update({f"valid_{k}": v for k, v in metrics.items()})
                    if value > best["value"]:
                        # the weights go to best.pt with the next checkpoint
                        weights = {
                            k: v.detach().clone() for k, v in self.model.state_dict().items()
                        }
                        best = {"epoch": epoch, "value": value, "metrics": metrics, "bad": 0,
                                "state": weights}  # fmt: skip
                    else:
                        best["bad"] += 1
                history.append(record)
                epochs_run = epoch
                info = f"loss {loss:.4f}"
                if best["epoch"]:
                    info += f"  best valid {cfg.metric} {best['value']:.4f} (ep {best['epoch']})"
                bar.update(task, epoch, info=info)
                evaluated = f"valid_{cfg.metric}" in record
                log.log(
                    logging.INFO if evaluated else logging.DEBUG, "%s", _epoch_line(record, cfg)
                )
                if best["bad"] >= cfg.patience:
                    stopped = True
                if self._checkpoint_due(epoch, last=stopped or epoch == cfg.epochs):
                    self._save_checkpoint(epoch, best, history)
                if self.on_eval and evaluated:
                    self.on_eval(epoch, value)
                if stopped:
                    log.info("early stop at epoch %d; best epoch %d", epoch, best["epoch"])
                    break
        if stopped and best["epoch"] == min(cfg.eval_every, cfg.epochs):
            _warn_never_improved(cfg, best["epoch"])
        self._restore_best(best)
        return TrainResult(
            best_epoch=best["epoch"],
            best_valid=best["metrics"],
            history=history,
            epochs_run=epochs_run,
            seconds_per_epoch=_mean_of(history, "seconds"),
            cpu_seconds_per_epoch=_mean_of(history, "cpu_seconds"),
            seconds_per_eval=_mean_of(history, "eval_seconds"),
            stopped_early=stopped,
        )

    def _restore_best(self, best: dict[str, Any]) -> None:
        if best.get("state") is not None:
            self.model.load_state_dict(best["state"])


def _mean_of(history: list[dict[str, Any]], key: str) -> float:
    """The mean of ``key`` over the epochs that recorded it: every epoch of the run, also
    those trained before a resume (each epoch's record carries its own timings, saved with
    the checkpoint), so a run resumed after it stopped does not report zero seconds. Epochs
    from checkpoints written before timings were recorded have none and are left out."""
    values = [r[key] for r in history if key in r]
    return sum(values) / len(values) if values else 0.0


def _epoch_line(record: dict[str, Any], cfg: TrainConfig) -> str:
    """``epoch 4/300 loss 0.12345``, plus the validation metric on evaluated epochs only
    (the others are never shown as ``nan``)."""
    line = f"epoch {record['epoch']}/{cfg.epochs} loss {record['loss']:.5f}"
    if f"valid_{cfg.metric}" in record:
        line += f" valid {cfg.metric}={record[f'valid_{cfg.metric}']:.5f}"
    return line


@subnormals_flushed()
def train_model(
    model: Recommender,
    data: TrainData,
    valid: Evaluator,
    config: TrainConfig | None = None,
    *,
    run_dir: str | Path | None = None,
    progress: bool = True,
    resume: bool = False,
    on_eval: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Train with early stopping on ``valid``; the model ends with its best weights.
    ``on_eval`` sees each validation score (``Trainer.on_eval``)."""
    config = config or TrainConfig()
    threads = cpu_threads(config)
    torch.set_num_threads(threads)
    where = next(iter(model.parameters()), torch.zeros(0)).device
    log.info("training %s on %s with %d CPU thread(s)", model.name, where, threads)
    seed_everything(config.seed)
    trainer = Trainer(
        model, data, valid, config, run_dir=run_dir, progress=progress, on_eval=on_eval
    )
    try:
        result = trainer.fit(resume)
    except KeyboardInterrupt:
        done = trainer.saved_epoch()
        checkpoint = Path(run_dir) / CHECKPOINT if run_dir and done else None
        raise TrainingInterrupted(checkpoint, done) from None
    if run_dir:
        write_json(Path(run_dir) / "history.json", result.history)
    return result


def _warn_never_improved(cfg: TrainConfig, epoch: int) -> None:
    """Early stopping kept the first evaluation: the run ended before the model learned
    anything validation can see. Seen here when a weak start stalls (SMORE at lr 1e-3 on
    movielens-latest-small-mm: validation fell for eight epochs while the loss stayed near
    BPR's log 2, and patience 20 ended the run before it could climb: docs/tuning.md)."""
    log.warning(
        "validation %s never improved on epoch %d's within patience %d: the model may not "
        "have started learning. Try a higher train.lr or a larger train.patience (docs/tuning.md)",
        cfg.metric,
        epoch,
        cfg.patience,
    )


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except OSError:
        return None
