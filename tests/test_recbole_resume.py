"""RecBole runs of the benchmarks survive being stopped: ``recbole_runner`` saves where a run
is after every validation and a later call with the same settings continues from there, to
the numbers of a run never stopped (a CPU seed of RecBole's SASRec is hours; sessions end)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

pytest.importorskip("recbole")

from recbole_runner import run_sequential, write_sequence_files  # noqa: E402

PAD, LENGTH = 0, 8


def _files(root: Path) -> Path:
    """A small next-item log: 40 users, items 1-30, each user walking up the catalogue."""
    rng = np.random.default_rng(0)
    parts: dict[str, list] = {"train": [[], [], []], "valid": [[], [], []], "test": [[], [], []]}
    for user in range(1, 41):
        walk = (np.arange(12) + rng.integers(1, 20)) % 30 + 1
        for end in range(1, len(walk)):
            part = "test" if end == 11 else "valid" if end == 10 else "train"
            window = np.full(LENGTH, PAD)
            history = walk[max(0, end - LENGTH) : end]
            window[: len(history)] = history
            for column, value in zip(parts[part], (user, window, walk[end]), strict=True):
                column.append(value)
    arrays = {k: tuple(np.asarray(c) for c in v) for k, v in parts.items()}
    return write_sequence_files(root / "data", "walks", arrays, PAD)


def _run(root: Path, folder: str):
    return run_sequential(
        "SASRec",
        root / "data",
        "walks",
        epochs=5,
        max_length=LENGTH,
        params={
            "n_layers": 1,
            "n_heads": 1,
            "hidden_size": 16,
            "inner_size": 32,
            "train_batch_size": 64,
        },  # fmt: skip
        seed=3,
        patience=10,
        checkpoint_dir=root / folder,
    )


def test_a_stopped_recbole_run_continues_to_the_numbers_of_one_never_stopped(tmp_path, monkeypatch):
    from recbole.trainer import Trainer

    _files(tmp_path)
    whole = _run(tmp_path, "whole")

    real, seen = Trainer._train_epoch, []

    def stopped_in_epoch_3(self, train_data, epoch_idx, *args, **kwargs):
        if epoch_idx == 3 and 3 not in seen:
            seen.append(3)
            raise KeyboardInterrupt  # the session ends
        return real(self, train_data, epoch_idx, *args, **kwargs)

    monkeypatch.setattr(Trainer, "_train_epoch", stopped_in_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, "cut")
    monkeypatch.setattr(Trainer, "_train_epoch", real)
    trained = []
    monkeypatch.setattr(
        Trainer,
        "_train_epoch",
        lambda self, data, idx, *a, **k: trained.append(idx) or real(self, data, idx, *a, **k),
    )
    resumed = _run(tmp_path, "cut")
    assert trained == [3, 4]  # epochs 0-2 were not trained again
    assert resumed.epochs_run == whole.epochs_run == 5
    assert resumed.valid_curve == whole.valid_curve
    assert resumed.test == whole.test and resumed.valid == whole.valid
    assert resumed.best_epoch == whole.best_epoch
    # a finished run's state is read as finished: only its test is scored again
    trained.clear()
    assert _run(tmp_path, "cut").test == whole.test and trained == []


def test_running_recbole_leaves_autograd_anomaly_detection_off(tmp_path):
    """RecBole 1.2.1 turns anomaly detection on for the whole process when its sequential
    models are imported (SINE's module): every later backward pass of the process, fusionrec's
    included, would run slower and raise on a NaN. The runner puts the switch back."""
    import torch

    _files(tmp_path)
    try:
        _run(tmp_path, "run")
        assert not torch.is_anomaly_enabled()
    finally:
        torch.autograd.set_detect_anomaly(False)


def test_a_sequential_run_keeps_each_test_users_scores_for_paired_comparisons(tmp_path):
    """The per-user scores are the benchmark files' users (fusionrec's indices) and average
    to what RecBole's own evaluator reported, so a paired test against fusionrec's per-user
    scores compares the model the table shows."""
    _files(tmp_path)
    run = _run(tmp_path, "run")
    per_user = run.per_user_test
    assert sorted(per_user["users"]) == list(range(1, 41))
    for name, value in run.test.items():
        assert np.mean(per_user[name]) == pytest.approx(value, abs=1e-4)
    ndcg = np.array(per_user["ndcg@10"])
    places = np.log2(np.arange(10) + 2.0)
    assert all(v == 0 or np.isclose(1 / v, places).any() for v in ndcg)
    assert np.array_equal(np.array(per_user["hit@10"]) > 0, ndcg > 0)


def test_per_user_scores_that_do_not_average_to_the_reported_are_refused():
    from recbole_runner import check_per_user

    check_per_user({"ndcg@10": [0.0, 1.0]}, {"ndcg@10": 0.5})
    with pytest.raises(RuntimeError, match="ndcg@10 averages 0.500000, RecBole reported 0.4"):
        check_per_user({"ndcg@10": [0.0, 1.0]}, {"ndcg@10": 0.4})
