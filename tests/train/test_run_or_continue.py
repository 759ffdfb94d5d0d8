"""``run_or_continue``: the run behind searches and benchmarks that outlive a session reads a
finished run back, continues an unfinished one, and replaces a run of other settings."""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from fusionrec.config import validate_config
from fusionrec.train import experiment
from fusionrec.train.experiment import prepare, run_or_continue
from toy_data import write_toy_dataset


def config(tmp_path, epochs: int = 2):
    data = write_toy_dataset(tmp_path / "data")
    return validate_config(
        {
            "name": "toy",
            "dataset": {"name": "toy", "path": str(data)},
            "model": {"name": "mf-bpr"},
            "train": {"epochs": epochs, "lr": 0.01, "batch_size": 128, "metric": "recall@10"},
            "evaluate": {"ks": [5, 10]},
            "seeds": [1, 2],
        }
    )


@pytest.fixture
def trained(monkeypatch) -> list[dict[str, Any]]:
    """Each seed that trains: its seed and whether it was asked to resume."""
    calls: list[dict[str, Any]] = []
    real = experiment.run_seed

    def spy(cfg, prep, seed, *args, **kwargs):
        calls.append({"seed": seed, "resume": kwargs.get("resume", False)})
        return real(cfg, prep, seed, *args, **kwargs)

    monkeypatch.setattr(experiment, "run_seed", spy)
    return calls


def test_a_finished_run_is_read_back_not_trained_again(tmp_path, trained):
    cfg = config(tmp_path)
    prep = prepare(cfg, progress=False)
    first = run_or_continue(cfg, tmp_path / "run", prep)
    assert [c["seed"] for c in trained] == [1, 2]
    trained.clear()
    again = run_or_continue(cfg, tmp_path / "run", prep)
    assert trained == []
    assert again == first


def test_an_unfinished_run_continues_from_its_checkpoints(tmp_path, trained):
    cfg = config(tmp_path)
    prep = prepare(cfg, progress=False)
    whole = run_or_continue(cfg, tmp_path / "whole", prep)
    run_or_continue(cfg, tmp_path / "run", prep)
    # as if the session ended during seed 2: its results and the run's are not written yet
    (tmp_path / "run" / "results.json").unlink()
    (tmp_path / "run" / "seed-2" / "metrics.json").unlink()
    trained.clear()
    resumed = run_or_continue(cfg, tmp_path / "run", prep)
    assert trained and all(c["resume"] for c in trained)
    assert resumed["test"] == whole["test"]


def test_a_run_of_other_settings_is_replaced(tmp_path, trained):
    prep = prepare(config(tmp_path), progress=False)
    run_or_continue(config(tmp_path), tmp_path / "run", prep)
    shutil.copy(tmp_path / "run" / "results.json", tmp_path / "old.json")
    trained.clear()
    longer = run_or_continue(config(tmp_path, epochs=3), tmp_path / "run", prep)
    assert [c["resume"] for c in trained] == [False, False]
    assert all(s["epochs"] <= 3 for s in longer["per_seed"])
    assert (tmp_path / "run" / "results.json").read_text() != (tmp_path / "old.json").read_text()
