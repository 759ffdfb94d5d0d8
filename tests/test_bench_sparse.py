"""The sparse study's account of where a model's Recall@20 comes from
(``benchmarks/bench_sparse.py``): per-group contributions that add up to the test metric,
and the verdict lines built on them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from fusionrec.cli import app
from fusionrec.config import read_saved_config
from fusionrec.train.experiment import prepare
from toy_data import toy_config, write_toy_dataset, write_toy_features

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_sparse  # noqa: E402


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """LightGCN on the toy data, two seeds, as the study's ``best`` folder holds it."""
    folder = tmp_path_factory.mktemp("sparse")
    cfg = toy_config(folder, model="lightgcn", evaluate={"ks": [10, 20]})
    out = folder / "runs" / "lightgcn" / "best"
    args = ["train", "-c", str(cfg), "train.epochs=3", "--seeds", "1,2", "--quiet"]
    result = CliRunner().invoke(app, [*args, "--run-dir", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_group_contributions_add_up_to_the_test_recall(run):
    config = read_saved_config(run / "config.yaml")
    prep = prepare(config, None, progress=False)
    n_items = prep.dataset.n_items
    # three groups that partition the items, one of them small
    label = np.arange(n_items) % 3
    groups = {f"g{g}": (label == g).astype(np.float32) for g in range(3)}
    found = bench_sparse.recall_by_group(run, prep, config, groups)
    recorded = json.loads((run / "results.json").read_text())["test"]["recall@20"]["mean"]
    total = sum(g["contribution"]["mean"] for g in found.values())
    assert total == pytest.approx(recorded, abs=1e-6)
    assert sum(g["weight"] for g in found.values()) == pytest.approx(1.0)
    for g in found.values():  # a group's hits count toward the total only in their share
        assert 0 < g["contribution"]["mean"] <= g["weight"]
        assert g["contribution"]["mean"] <= g["mean"]


def _groups(rates: dict[str, float], weights: dict[str, float]) -> dict[str, dict]:
    return {
        b: {"mean": rates[b], "std": 0.0, "users": 10, "items": 10, "weight": weights[b],
            "contribution": {"mean": rates[b] * weights[b], "std": 0.0}}
        for b in rates
    }  # fmt: skip


@pytest.mark.parametrize("tail_weight, reachable", [(0.05, False), (0.5, True)])
def test_gain_sources_say_whether_the_rare_movies_alone_could_reach_the_goal(
    tail_weight, reachable
):
    weights = {"0": tail_weight / 2, "1-2": tail_weight / 2, "3-5": 0.0, "6-20": 0.1}
    weights[">20"] = 1.0 - sum(weights.values())
    base = _groups({"0": 0.0, "1-2": 0.0, "3-5": 0.0, "6-20": 0.02, ">20": 0.30}, weights)
    mine = _groups({"0": 0.01, "1-2": 0.01, "3-5": 0.0, "6-20": 0.03, ">20": 0.31}, weights)
    lines = bench_sparse.gain_sources({"lightgcn": base, "mm": mine}, "mm")
    text = "\n".join(lines)
    assert "| all |" in text
    total_base = sum(g["contribution"]["mean"] for g in base.values())
    assert f"({total_base:.4f})" in text
    # the rare movies recalled at the most-rated bucket's rate: weight x 0.31, less base's
    assert f"about {tail_weight * 0.31:+.4f}" in text
    at_most_20 = (tail_weight + 0.1) * 0.31 - 0.1 * 0.02
    assert f"about {at_most_20:+.4f}" in text
    first = next(line for line in lines if "with at most 5" in line)
    assert first.endswith("enough for the goal") == reachable


def test_gain_sources_need_both_models_contributions():
    weights = {"0": 0.1, ">20": 0.9}
    groups = _groups({"0": 0.0, ">20": 0.3}, weights)
    assert bench_sparse.gain_sources({"mm": groups}, "mm") == []
    old = {b: {k: v for k, v in g.items() if k != "contribution"} for b, g in groups.items()}
    assert bench_sparse.gain_sources({"lightgcn": old, "mm": groups}, "mm") == []


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A toy sparse study: its spec, and LightGCN and Content-KNN finished in its runs."""
    folder = tmp_path_factory.mktemp("study")
    spec = {
        "dataset": {"name": "toy", "path": str(write_toy_dataset(folder / "data"))},
        "seeds": [1, 2],
        "features": {"modalities": ["text", "image"], "precomputed": write_toy_features(folder)},
        "train": {"epochs": 3, "lr": 0.01, "batch_size": 128},
        "evaluate": {"ks": [10, 20]},
    }
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec))
    for model in ("lightgcn", "content-knn"):
        cfg = {**spec, "name": model, "model": {"name": model}}
        (folder / f"{model}.yaml").write_text(yaml.safe_dump(cfg))
        args = ["train", "-c", str(folder / f"{model}.yaml"), "--quiet"]
        out = folder / "runs" / model / "best"
        result = CliRunner().invoke(app, [*args, "--run-dir", str(out)])
        assert result.exit_code == 0, result.output
    return folder


def test_the_blend_probe_rescores_lightgcn_and_picks_its_weight_on_validation(study, monkeypatch):
    import argparse

    args = argparse.Namespace(
        spec=study / "spec.yaml", runs=study / "runs", trials=20, threads=1, device=None,
        features_from=None, epochs=0, seeds=0,
    )  # fmt: skip
    results = {"lightgcn": {}, "content-knn": {}}
    blend = bench_sparse.blend_probe(args, results)
    recorded = json.loads((study / "runs/lightgcn/best/results.json").read_text())
    # weight 0 is LightGCN itself: its re-scored test recall is the recorded one
    assert blend["test_lightgcn"]["mean"] == pytest.approx(
        recorded["test"]["recall@20"]["mean"], abs=1e-6
    )
    assert blend["grid"] == 1 + len(bench_sparse.BLEND_WEIGHTS) * len(bench_sparse.BLEND_TAUS)
    assert blend["valid"] >= recorded["valid"]["recall@20"]["mean"] - 1e-6  # w = 0 is a choice
    cached = json.loads((study / "runs" / "blend.json").read_text())
    cached["blend"]["valid"] = -1.0  # the cache of these very runs is read back
    (study / "runs" / "blend.json").write_text(json.dumps(cached))
    assert bench_sparse.blend_probe(args, results)["valid"] == -1.0
    # a probe over another grid of weights is not this one: computed again
    monkeypatch.setattr(bench_sparse, "BLEND_WEIGHTS", (0.5,))
    assert bench_sparse.blend_probe(args, results)["grid"] == 1 + len(bench_sparse.BLEND_TAUS)
    assert bench_sparse.blend_probe(args, {"lightgcn": {}}) is None
    line = "\n".join(bench_sparse.blend_lines(blend))
    assert f"w = {blend['chosen']['weight']}" in line


def test_a_stronger_id_model_than_lightgcn_gets_its_own_comparison(study):
    """The goal is stated against LightGCN; when EASE is the better id model on validation,
    the verdict also says what content adds over it, paired over the same users."""
    cfg = yaml.safe_load((study / "lightgcn.yaml").read_text())
    (study / "ease.yaml").write_text(
        yaml.safe_dump({**cfg, "name": "ease", "model": {"name": "ease"}})
    )
    args = ["train", "-c", str(study / "ease.yaml"), "--quiet"]
    result = CliRunner().invoke(app, [*args, "--run-dir", str(study / "runs/ease/best")])
    assert result.exit_code == 0, result.output

    def row(valid: float, test: float) -> dict:
        stat = {"mean": test, "std": 0.01}
        return {
            "valid": {"recall@20": {"mean": valid}},
            "test": {"recall@20": stat, "ndcg@20": stat},
        }

    results = {"lightgcn": row(0.20, 0.20), "ease": row(0.25, 0.25), "content-knn": row(0.3, 0.3)}
    lines = bench_sparse.against_best_ids(results, "content-knn", study / "runs")
    assert "strongest id model on **validation** Recall@20 is **ease**" in lines[0]
    assert "+20.0%" in lines[1]
    assert any("content-knn minus ease" in line for line in lines)
    results["ease"] = row(0.15, 0.25)  # chosen on validation, not on test
    assert bench_sparse.against_best_ids(results, "content-knn", study / "runs") == []


def test_the_goal_is_met_beyond_chance_only_when_the_paired_interval_clears_it():
    """+17 % on the means with a paired interval reaching down to +12 % meets the +15 % goal
    on the mean only; an interval wholly above +15 % meets it beyond chance."""
    base = 0.2450
    on_mean = bench_sparse.goal_word(0.171, base, 0.0300, 0.0539)
    assert on_mean.startswith("**met on the mean**, not beyond chance")
    assert "+12.2% to +22.0%" in on_mean
    assert bench_sparse.goal_word(0.25, base, 0.04, 0.08).startswith("**met**, beyond chance")
    short = bench_sparse.goal_word(0.10, base, 0.01, 0.04)
    assert short.startswith("**NOT met** (short by 5.0 percentage points")


def test_the_dense_verdict_says_beats_only_with_the_paired_interval_above_zero():
    """A mean margin above the seed spread whose paired interval over users reaches below
    zero (a deterministic model's std is 0, so the spread is the other's alone) is 'ahead',
    not 'beats'."""
    import bench_movielens

    assert bench_movielens.beat_word(0.0083, 0.0031, -0.0013).startswith(
        "ahead by more than the larger sample std (0.0031), but NOT beyond chance"
    )
    assert bench_movielens.beat_word(0.0082, 0.0051, 0.002).startswith("beats it by more")
    assert bench_movielens.beat_word(0.001, 0.0051, 0.0001).startswith("does NOT beat")


def test_a_model_with_nothing_to_tune_trains_once_in_its_own_folder(study, capsys):
    """MostPopular ships no search space: the study trains its seeds once instead of asking
    ``fusionrec tune`` for a search it would refuse, and scores the poster groups and the
    popularity buckets from the model's own folder."""
    import argparse

    args = argparse.Namespace(
        spec=study / "spec.yaml", runs=study / "runs", trials=20, threads=1, device=None,
        features_from=None, epochs=0, seeds=0, names=["most-popular"],
    )  # fmt: skip
    bench_sparse.child(args, "most-popular")
    record = json.loads((study / "runs/most-popular/bench.json").read_text())
    assert record["trials"] == 0 and record["chosen"] == {}
    assert not (study / "runs/most-popular/best").exists()
    recorded = json.loads((study / "runs/most-popular/results.json").read_text())
    assert record["test"] == recorded["test"]
    assert [s["seed"] for s in record["per_seed"]] == [1, 2]
    assert set(record["by_poster"]) == {"with poster", "without poster"}
    buckets = bench_sparse.by_popularity(args, {"most-popular": record})
    assert sum(g["contribution"]["mean"] for g in buckets["most-popular"].values()) == (
        pytest.approx(record["test"]["recall@20"]["mean"], abs=1e-6)
    )
    assert (study / "runs/most-popular/by_popularity.json").exists()
    # the toy's most-rated bucket holds no held-out movie: no users, nothing contributed
    empty = [g for g in buckets["most-popular"].values() if g["users"] == 0]
    assert empty and all(g["contribution"]["mean"] == 0.0 for g in empty)
    assert "| >20 | 0.0% | 0 | - |" in "\n".join(bench_sparse.popularity_table(buckets))
    assert "RESULT" in capsys.readouterr().out


def test_a_seed_that_timed_nothing_is_left_out_of_the_seconds_per_epoch_and_said_so():
    from bench_movielens import seconds_cell

    assert seconds_cell([{"seconds_per_epoch": 8.0}, {"seconds_per_epoch": 10.0}]) == "9.00"
    legacy = [{"seconds_per_epoch": 0.0}, {"seconds_per_epoch": 0.0}, {"seconds_per_epoch": 8.35}]
    assert seconds_cell(legacy) == "8.35 (1 of 3 seeds)"
    assert seconds_cell([{"seconds_per_epoch": 0.0}]) == "not recorded"
