"""``fusionrec train`` runs a sequential model like any other, and re-scores it."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from fusionrec.cli import app
from toy_data import toy_config

runner = CliRunner()


def test_train_and_evaluate_sasrec_on_a_tiny_dataset(tmp_path):
    cfg = toy_config(tmp_path, "sasrec", split={"method": "leave-one-out"})
    args = ["train", "-c", str(cfg), "train.epochs=2", "model.params.max_length=5", "--quiet"]
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "sasrec (test)" in result.output
    run = tmp_path / "runs" / "toy-sasrec"
    results = json.loads((run / "results.json").read_text())
    assert results["model"] == "sasrec" and "recall@10" in results["test"]
    rescored = runner.invoke(app, ["evaluate", str(run)], catch_exceptions=False)
    assert rescored.exit_code == 0, rescored.output
    recorded = results["per_seed"][0]["test"]["recall@10"]
    assert f"{recorded:.4f}" in rescored.output


def test_a_bad_sequential_param_is_named(tmp_path):
    cfg = toy_config(tmp_path, "sasrec")
    result = runner.invoke(app, ["train", "-c", str(cfg), "model.params.n_heads=3"])
    assert result.exit_code != 0
    assert "model.params: Value error, embedding_size 64 must be a multiple of n_heads 3" in str(
        result.exception
    )


def test_demo_adds_the_sequential_models_on_request(tmp_path):
    import yaml

    from toy_data import write_toy_dataset

    spec = {
        "dataset": {"name": "toy", "path": str(write_toy_dataset(tmp_path / "data"))},
        "split": {"method": "random"},
        "train": {"epochs": 1, "batch_size": 128},
        "evaluate": {"ks": [5, 10]},
        "models": [{"name": "most-popular"}],
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(spec))
    args = ["demo", "--spec", str(path), "-o", str(tmp_path / "demo"), "--quiet"]
    plain = runner.invoke(app, args, catch_exceptions=False)
    assert plain.exit_code == 0, plain.output
    assert "sasrec" not in plain.output
    only = ["--models", "most-popular,gru4rec,sasrec"]  # mmsasrec needs item features
    result = runner.invoke(app, [*args, "--sequential", *only], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "gru4rec" in result.output and "sasrec" in result.output
    # in a study of their own, on a split that holds out each user's latest items
    assert "random split" in result.output and "leave-one-out split" in result.output
    ordered = json.loads((tmp_path / "demo" / "sequential" / "split.json").read_text())
    assert ordered["method"] == "leave-one-out"
    assert json.loads((tmp_path / "demo" / "split.json").read_text())["method"] == "random"
    assert sorted(json.loads((tmp_path / "demo" / "sequential" / "study.json").read_text())) == [
        "gru4rec", "most-popular", "sasrec"
    ]  # fmt: skip


def test_a_sequential_model_on_a_random_split_is_warned_about(tmp_path):
    cfg = toy_config(tmp_path, "gru4rec", split={"method": "random"})
    args = ["train", "-c", str(cfg), "train.epochs=1", "--quiet"]
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    shown = " ".join(result.output.split())
    assert "split 'random' holds out" in shown and "before the first of them" in shown
