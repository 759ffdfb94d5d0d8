"""What a stopped, retried or resumed run or search leaves behind: only what belongs to it.

Each test failed before its fix: a searched setting no trial applied, a retry that deleted a
split made with ``fusionrec data split -o``, a resumed run whose best.pt was a later epoch
than its results, and a re-run search whose Ctrl-C left the previous search's outcome."""

from __future__ import annotations

import json
import logging
import shlex
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import yaml

from console import cli
from fusionrec.config import TrainConfig, validate_config
from fusionrec.errors import ConfigError, FusionrecError
from fusionrec.evaluate import Evaluator
from fusionrec.models import MODELS, TrainData, build_model
from fusionrec.train import seed_everything, train_model
from fusionrec.train import trainer as trainer_module
from fusionrec.train import tune as tune_module
from fusionrec.train.trainer import TrainingInterrupted
from fusionrec.train.tune import parse_search, resolve_search, shipped_space, tune
from toy_data import toy_config, write_toy_dataset


def search_config(tmp_path: Path, space: dict[str, Any], **extra: Any):
    data = write_toy_dataset(tmp_path / "data")
    return validate_config(
        {
            "name": "toy",
            "dataset": {"name": "toy", "path": str(data)},
            "model": {"name": "mf-bpr"},
            "train": {"epochs": 2, "lr": 0.01, "batch_size": 128, "metric": "recall@10"},
            "evaluate": {"ks": [5, 10]},
            "seeds": [1],
            "search": {"n_trials": 2, "space": space},
            "output_dir": str(tmp_path / "runs"),
            **extra,
        }
    )


# -- 1. a search space may only name settings its trials apply ------------------------------
@pytest.mark.parametrize(
    ("key", "spec", "pattern"),
    [
        ("dataset.implicit_threshold", {"type": "categorical", "choices": [1, 4]},
         "every trial uses the dataset prepared once"),
        ("split.seed", {"type": "int", "low": 1, "high": 5}, "the split prepared once"),
        ("features.cache_dir", {"type": "categorical", "choices": ["/tmp/a", "/tmp/b"]},
         "only features.modalities"),
        ("seeds", {"type": "categorical", "choices": [[1], [2]]}, "first seed"),
        ("train.seed", {"type": "int", "low": 1, "high": 5}, "first seed"),
        ("train.metric", {"type": "categorical", "choices": ["recall@5", "ndcg@10"]},
         "compared on the base config's train.metric"),
        ("train", {"type": "categorical", "choices": [{"lr": 0.01, "seed": 3}]},
         r"search.space.train: cannot be searched \(it sets train.seed\)"),
    ],
)  # fmt: skip
def test_a_space_setting_no_trial_applies_is_refused_before_any_data_is_read(
    tmp_path, monkeypatch, key, spec, pattern
):
    monkeypatch.setattr(tune_module, "prepare", lambda *a, **k: pytest.fail("data was read"))
    with pytest.raises(ConfigError, match=pattern) as caught:
        tune(search_config(tmp_path, {key: spec}), tmp_path / "tune")
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"search.space.{key}: cannot be searched")
    assert "set it in the config outside search" in message
    assert not (tmp_path / "tune").exists()


@pytest.mark.parametrize("model", sorted(m for m in MODELS if shipped_space(m) is not None))
def test_every_shipped_space_and_its_modality_sets_remain_searchable(model):
    """The spaces the benchmarks search (each model's own, plus the modality sets of the
    multimodal ones) name only settings a trial applies."""
    settings: dict[str, Any] = {"dataset": {"name": "toy"}, "model": {"name": model}}
    search: dict[str, Any] = {"n_trials": 1}
    if MODELS[model].requires_features:
        settings["features"] = {"modalities": ["text", "image"]}
        search["modality_sets"] = True
    config = resolve_search(validate_config({**settings, "search": search}))
    assert set(parse_search(config).space) == set(config.search["space"])


# -- 2. a retry keeps a split made with `fusionrec data split -o` ----------------------------
def _train(capsys, monkeypatch, cfg: Path, run: Path, *extra: str) -> tuple[int, str]:
    return cli(capsys, monkeypatch, "train", "-c", str(cfg), "--run-dir", str(run), "--quiet",
               "train.epochs=1", "--seeds", "1", *extra)  # fmt: skip


def _split_meta(run: Path) -> dict[str, Any]:
    return json.loads((run / "split.json").read_text())


def test_a_retry_after_an_attempt_that_never_trained_keeps_a_split_made_beforehand(
    tmp_path, capsys, monkeypatch
):
    cfg, run = toy_config(tmp_path), tmp_path / "run"
    split_cmd = ("data", "split", "-c", str(cfg), "-o", str(run), "split.method=temporal")
    assert cli(capsys, monkeypatch, *split_cmd)[0] == 0
    code, out = _train(capsys, monkeypatch, cfg, run, "features.modalites=[text]")  # typo
    assert code == 2 and "features" in out
    assert (run / "config.yaml").exists()  # stopped after its config, before training
    code, out = _train(capsys, monkeypatch, cfg, run)
    assert code == 0, out
    assert _split_meta(run)["method"] == "temporal"  # the user's split, not a new random one
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["split"]["method"] == "temporal"


def test_a_split_made_after_a_failed_attempt_is_kept_and_the_attempt_s_own_is_not(
    tmp_path, capsys, monkeypatch
):
    cfg, run = toy_config(tmp_path), tmp_path / "run"
    # the attempt makes its own split (random, seed 2026), then fails on the features
    assert _train(capsys, monkeypatch, cfg, run, "features.modalites=[text]")[0] == 2
    assert _split_meta(run)["params"]["seed"] == 2026
    # a retry with other split settings makes the split its config names, as before
    assert _train(capsys, monkeypatch, cfg, run, "split.seed=7", "features.modalites=[x]")[0] == 2
    assert _split_meta(run)["params"]["seed"] == 7
    # a split the user makes over the failed attempt is theirs: kept, and used
    split_cmd = ("data", "split", "-c", str(cfg), "-o", str(run), "split.method=leave-one-out")
    assert cli(capsys, monkeypatch, *split_cmd)[0] == 0
    code, out = _train(capsys, monkeypatch, cfg, run)
    assert code == 0, out
    assert _split_meta(run)["method"] == "leave-one-out"


def test_a_kept_split_of_another_method_than_the_retry_asks_is_refused(
    tmp_path, capsys, monkeypatch
):
    cfg, run = toy_config(tmp_path), tmp_path / "run"
    split_cmd = ("data", "split", "-c", str(cfg), "-o", str(run), "split.method=temporal")
    assert cli(capsys, monkeypatch, *split_cmd)[0] == 0
    assert _train(capsys, monkeypatch, cfg, run, "features.modalites=[text]")[0] == 2
    code, out = _train(capsys, monkeypatch, cfg, run, "split.method=random")
    assert code == 2 and "asks for 'random', but" in out and "holds a 'temporal' split" in out
    assert _split_meta(run)["method"] == "temporal"


# -- 3. a resumed run's best.pt is the best its results name ---------------------------------
@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(0)
    n_users, n_items = 40, 30
    rows, cols = [], []
    for u in range(n_users):
        items = rng.choice(np.arange(15) + 15 * (u % 2), 8, replace=False)
        rows += [u] * 8
        cols += items.tolist()
    mat = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_users, n_items)).tocoo()
    held = rng.random(mat.nnz) < 0.2
    train = sp.csr_matrix((mat.data[~held], (mat.row[~held], mat.col[~held])), mat.shape)
    valid = sp.csr_matrix((mat.data[held], (mat.row[held], mat.col[held])), mat.shape)
    return TrainData(n_users, n_items, train), Evaluator(valid, train, ks=[10])


@pytest.fixture
def scripted(monkeypatch):
    """Validation scores by epoch (best at 2, then at 5), the weights each epoch was scored
    with, and a checkpoint every 3 epochs; Ctrl-C lands at epoch 6's, after best.pt and
    best.json (epoch 5's) are written and before the checkpoint is, so the checkpoint left
    (epoch 3) knows best epoch 2 while best.pt holds epoch 5 (what an older version, which
    wrote best.pt at every improvement, also left)."""
    scores = {1: 0.1, 2: 0.3, 3: 0.2, 4: 0.25, 5: 0.4, 6: 0.1}
    weights: dict[int, dict[str, torch.Tensor]] = {}
    epoch = {"now": 0}
    real_epoch = trainer_module.Trainer.train_epoch
    real_save = trainer_module.save_torch

    def train_epoch(self, n):
        epoch["now"] = n
        return real_epoch(self, n)

    def evaluate(model, valid):
        n = epoch["now"]
        weights[n] = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return {"recall@10": scores[n]}

    def save(path, obj):
        if Path(path).name == trainer_module.CHECKPOINT and epoch["now"] == 6:
            raise KeyboardInterrupt
        real_save(path, obj)

    monkeypatch.setattr(trainer_module.Trainer, "train_epoch", train_epoch)
    monkeypatch.setattr(trainer_module, "evaluate_model", evaluate)
    monkeypatch.setattr(trainer_module, "save_torch", save)
    return weights


def _first_attempt(world, run: Path) -> TrainConfig:
    data, valid = world
    cfg = dict(lr=0.01, batch_size=64, patience=100, seed=3, checkpoint_every=3,
               checkpoint_seconds=0, threads=1, metric="recall@10")  # fmt: skip
    seed_everything(3)
    with pytest.raises(TrainingInterrupted):
        train_model(build_model("mf-bpr", data), data, valid, TrainConfig(epochs=8, **cfg),
                    run_dir=run, progress=False)  # fmt: skip
    assert json.loads((run / "best.json").read_text())["epoch"] == 5
    assert torch.load(run / "checkpoint.pt", weights_only=False)["best"]["epoch"] == 2
    return TrainConfig(epochs=3, **cfg)  # resume without training further


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k].cpu(), b[k].cpu()) for k in a)


def test_a_resumed_run_scores_the_weights_of_the_best_epoch_it_reports(world, tmp_path, scripted):
    data, valid = world
    run = tmp_path / "run"
    resume_cfg = _first_attempt(world, run)
    seed_everything(3)
    model = build_model("mf-bpr", data)
    result = train_model(model, data, valid, resume_cfg, run_dir=run, progress=False, resume=True)
    assert result.best_epoch == 2 and result.best_valid == {"recall@10": 0.3}
    assert json.loads((run / "best.json").read_text()) == {"epoch": 2, "recall@10": 0.3}
    assert _same(torch.load(run / "best.pt", weights_only=False), scripted[2])
    assert _same(model.state_dict(), scripted[2])  # what test scoring and recommend use


def test_a_checkpoint_without_best_weights_still_resumes_and_says_what_it_cannot_fix(
    world, tmp_path, scripted, caplog
):
    data, valid = world
    run = tmp_path / "run"
    resume_cfg = _first_attempt(world, run)
    state = torch.load(run / "checkpoint.pt", weights_only=False)
    del state["best_model"]  # as written before checkpoints carried it
    torch.save(state, run / "checkpoint.pt")
    seed_everything(3)
    model = build_model("mf-bpr", data)
    with caplog.at_level(logging.WARNING, logger="fusionrec"):
        result = train_model(
            model, data, valid, resume_cfg, run_dir=run, progress=False, resume=True
        )
    assert result.best_epoch == 2
    assert "is epoch 5's, later than" in caplog.text and "--overwrite" in caplog.text


def test_an_old_checkpoint_whose_best_weights_are_gone_is_one_clear_error(
    world, tmp_path, scripted
):
    data, valid = world
    run = tmp_path / "run"
    resume_cfg = _first_attempt(world, run)
    state = torch.load(run / "checkpoint.pt", weights_only=False)
    del state["best_model"]
    torch.save(state, run / "checkpoint.pt")
    (run / "best.pt").unlink()
    seed_everything(3)
    with pytest.raises(FusionrecError, match="keeps no best weights.*best.pt is gone.*--overwrite"):
        train_model(build_model("mf-bpr", data), data, valid, resume_cfg, run_dir=run,
                    progress=False, resume=True)  # fmt: skip


# -- 4. a new search replaces the old one's outcome at its start; Ctrl-C says how to resume --
def test_an_interrupted_new_search_leaves_nothing_of_the_last_and_prints_how_to_resume(
    tmp_path, capsys, monkeypatch
):
    cfg = tmp_path / "tune.yaml"
    data = write_toy_dataset(tmp_path / "data")
    cfg.write_text(yaml.safe_dump({
        "name": "stale",
        "dataset": {"name": "toy", "path": str(data)},
        "model": {"name": "mf-bpr"},
        "train": {"epochs": 1, "lr": 0.01, "batch_size": 128, "threads": 1},
        "evaluate": {"ks": [5, 10]},
        "output_dir": str(tmp_path / "runs"),
        "search": {"n_trials": 1, "space": {
            "train.lr": {"type": "float", "low": 0.001, "high": 0.05, "log": True}}},
    }))  # fmt: skip
    run = tmp_path / "runs" / "stale-tune"
    assert cli(capsys, monkeypatch, "tune", "-c", str(cfg))[0] == 0
    assert (run / "tune.json").exists() and (run / "best" / "results.json").exists()

    reported: list[logging.LogRecord] = []
    spy = logging.Handler()
    spy.emit = reported.append  # type: ignore[method-assign]
    logging.getLogger("optuna").addHandler(spy)
    real = tune_module.run_seed

    def ctrl_c(*args: Any, **kwargs: Any) -> None:  # in the new search's first trial
        raise KeyboardInterrupt

    monkeypatch.setattr(tune_module, "run_seed", ctrl_c)
    try:
        code, out = cli(capsys, monkeypatch, "tune", "-c", str(cfg), "train.epochs=2")
    finally:
        logging.getLogger("optuna").removeHandler(spy)
    assert code == 130, out
    assert not [r for r in reported if "failed" in r.getMessage()]  # no Optuna traceback
    assert "interrupted: 0 trial(s) recorded" in out
    left = sorted(p.name for p in run.iterdir())
    assert "tune.json" not in left and "best_config.yaml" not in left and "best" not in left
    assert yaml.safe_load((run / "search_config.yaml").read_text())["train"]["epochs"] == 2

    command = shlex.split(out.split("resume with: ", 1)[1])
    assert command[:2] == ["fusionrec", "tune"] and command[-1] == "--resume"
    monkeypatch.setattr(tune_module, "run_seed", real)
    code, out = cli(capsys, monkeypatch, *command[1:])
    assert code == 0, out
    assert json.loads((run / "tune.json").read_text())["trials"][0]["epochs"] == 2
