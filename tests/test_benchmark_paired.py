"""The paired test the model comparisons add to their verdicts (``benchmarks/paired.py``):
per-user test metrics re-scored from a run's saved weights, and the paired statistics."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from fusionrec.cli import app
from toy_data import toy_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import paired  # noqa: E402


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """MF-BPR and LightGCN on the toy data, two seeds each, on the same split."""
    folder = tmp_path_factory.mktemp("paired")
    runs = folder / "runs"
    for model in ("mf-bpr", "lightgcn"):
        cfg = toy_config(folder, model=model, evaluate={"ks": [10, 20]})
        run = runs / model / "best"
        args = ["train", "-c", str(cfg), "train.epochs=3", "--seeds", "1,2", "--quiet"]
        result = CliRunner().invoke(app, [*args, "--run-dir", str(run)])
        assert result.exit_code == 0, result.output
    return runs


def test_per_user_metrics_average_the_seeds_and_are_cached(two_runs):
    run = two_runs / "lightgcn" / "best"
    rows = paired.per_user_test(run)
    recorded = json.loads((run / "results.json").read_text())
    for metric in paired.METRICS:
        assert len(rows[metric]) == len(rows["users"]) > 0
        assert np.mean(rows[metric]) == pytest.approx(recorded["test"][metric]["mean"], abs=1e-6)
    assert rows["gap"] < 1e-6  # re-scored at the code that trained it: exactly the same
    cache = json.loads((run / paired.CACHE).read_text())
    cache["per_user"]["recall@20"][0] = 99.0  # a cache of these very results is read back
    (run / paired.CACHE).write_text(json.dumps(cache))
    assert paired.per_user_test(run)["recall@20"][0] == 99.0
    (run / "results.json").write_text(json.dumps(recorded, indent=1))  # new results: re-scored
    assert paired.per_user_test(run)["recall@20"][0] != 99.0


def test_a_reloaded_model_that_differs_from_the_measured_one_is_an_error(two_runs):
    run = two_runs / "mf-bpr" / "best"
    original = (run / "results.json").read_text()
    results = json.loads(original)
    results["per_seed"][0]["test"]["recall@20"] += 0.01
    (run / "results.json").write_text(json.dumps(results))
    try:
        with pytest.raises(RuntimeError, match="not the one measured"):
            paired.per_user_test(run)
    finally:
        (run / "results.json").write_text(original)


def test_paired_table_has_a_row_per_model_but_the_base(two_runs):
    rows = paired.paired_table(two_runs, ["lightgcn", "mf-bpr"])
    (row,) = [r for r in rows if r.startswith("| mf-bpr |")]
    assert not any(r.startswith("| lightgcn |") for r in rows)
    a = paired.per_user_test(two_runs / "mf-bpr" / "best")
    b = paired.per_user_test(two_runs / "lightgcn" / "best")
    diff = np.mean(a["recall@20"]) - np.mean(b["recall@20"])
    assert row.split(" | ")[1].startswith(f"{diff:+.4f}")


def test_runs_on_different_splits_or_masks_are_not_paired(two_runs, tmp_path):
    """The same users are not enough: runs that ranked other held-out items (another split)
    or masked differently (evaluate.repeat) are refused, not paired."""
    import shutil

    runs = tmp_path / "runs"
    shutil.copytree(two_runs, runs)
    paired.paired(runs, "lightgcn", "mf-bpr")  # the same split and masks: paired
    manifest = runs / "lightgcn" / "best" / "manifest.json"
    data = json.loads(manifest.read_text())
    data["split"]["sha256"] = "0" * 64
    manifest.write_text(json.dumps(data))
    with pytest.raises(RuntimeError, match="different splits"):
        paired.paired(runs, "lightgcn", "mf-bpr")
    shutil.copy(two_runs / "lightgcn" / "best" / "manifest.json", manifest)
    results = runs / "mf-bpr" / "best" / "results.json"
    results.write_text(json.dumps({**json.loads(results.read_text()), "repeat": True}))
    with pytest.raises(RuntimeError, match="masked differently"):
        paired.paired(runs, "lightgcn", "mf-bpr")
