"""Training flushes subnormal floats to zero (they cost x86 cores many cycles each), from the
start of a run, and leaves the caller's mode as it found it."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from fusionrec.config import TrainConfig, validate_config
from fusionrec.evaluate import Evaluator
from fusionrec.models import TrainData, build_model
from fusionrec.train import experiment, train_model
from fusionrec.train.study import run_study
from fusionrec.train.subnormals import flushing, subnormals_flushed
from fusionrec.train.tune import tune
from toy_data import write_toy_dataset

TINY = torch.tensor([1e-20])  # its square, 1e-40, is subnormal in float32


def test_the_scope_flushes_subnormals_and_puts_the_old_mode_back():
    assert not flushing() and (TINY * TINY).item() > 0
    with subnormals_flushed():
        assert flushing() and (TINY * TINY).item() == 0.0
        with subnormals_flushed():
            assert flushing()
        assert flushing()  # the inner scope restored the outer one's mode
    assert not flushing() and (TINY * TINY).item() > 0
    with pytest.raises(KeyError), subnormals_flushed():
        raise KeyError("a failing run")
    assert not flushing()


def test_every_training_step_runs_with_subnormals_flushed():
    rng = np.random.default_rng(0)
    train = sp.csr_matrix((rng.random((40, 30)) < 0.3).astype(np.float32))
    valid = sp.csr_matrix((rng.random((40, 30)) < 0.05).astype(np.float32) - train).maximum(0)
    data = TrainData(40, 30, train)
    model = build_model("mf-bpr", data)
    seen: list[bool] = []
    loss = model.calculate_loss

    def spy(batch):
        seen.append(flushing())
        return loss(batch)

    model.calculate_loss = spy
    cfg = TrainConfig(epochs=2, batch_size=64, threads=1, metric="recall@10")
    train_model(model, data, Evaluator(valid, train, ks=[10]), cfg, progress=False)
    assert seen and all(seen)
    assert not flushing()


def _toy(tmp_path) -> dict:
    return {
        "name": "toy",
        "dataset": {"name": "toy", "path": str(write_toy_dataset(tmp_path / "data"))},
        "model": {"name": "mf-bpr"},
        "train": {"epochs": 1, "batch_size": 128, "metric": "recall@10", "threads": 1},
        "evaluate": {"ks": [5, 10]},
    }


@pytest.mark.parametrize("entry", ["run_experiment", "run_study", "tune"])
def test_a_run_flushes_from_before_it_reads_its_data(entry, tmp_path, monkeypatch):
    """Worker threads copy the mode of the thread that starts them, at the first parallel
    operation (often while encoding features): the whole run is inside the scope."""
    seen: list[bool] = []
    load = experiment.load_clean_dataset

    def spy(config):
        seen.append(flushing())
        return load(config)

    monkeypatch.setattr(experiment, "load_clean_dataset", spy)
    spec = _toy(tmp_path)
    if entry == "run_experiment":
        experiment.run_experiment(validate_config(spec), tmp_path / "run")
    elif entry == "run_study":
        spec["models"] = [{"name": "mf-bpr"}]
        del spec["model"]
        run_study(spec, tmp_path / "study", progress=False)
    else:
        spec["search"] = {
            "n_trials": 1,
            "space": {"train.lr": {"type": "float", "low": 1e-3, "high": 1e-2}},
        }
        tune(validate_config(spec), tmp_path / "search")
    assert seen and all(seen)
    assert not flushing()
