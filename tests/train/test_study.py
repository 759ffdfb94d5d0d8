from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
import yaml
from typer.testing import CliRunner

from fusionrec.cli import app
from fusionrec.config import load_config
from fusionrec.evaluate.cold_start import expected_random_metrics
from fusionrec.train.experiment import prepare, split_evaluators
from fusionrec.train.study import run_study
from toy_data import write_toy_dataset


def spec_for(tmp_path, models):
    path = write_toy_dataset(tmp_path / "data")
    return {
        "dataset": {"name": "toy", "path": str(path)},
        "split": {"method": "random", "seed": 7},
        "seeds": [1],
        "train": {"epochs": 3, "lr": 0.01, "batch_size": 128},
        "evaluate": {"ks": [5, 10]},
        "models": models,
    }


def test_study_trains_every_model_on_one_split(tmp_path):
    spec = spec_for(tmp_path, [{"name": "most-popular"}, {"name": "mf-bpr", "train": {"lr": 0.02}}])
    results = run_study(spec, tmp_path / "study", progress=False)
    assert set(results) == {"most-popular", "mf-bpr"}
    shared = pd.read_parquet(tmp_path / "study" / "split.parquet")
    for name in results:
        own = pd.read_parquet(tmp_path / "study" / name / "split.parquet")
        assert own.equals(shared)
    cfg = yaml.safe_load((tmp_path / "study" / "mf-bpr" / "config.yaml").read_text())
    assert cfg["train"]["lr"] == 0.02 and cfg["train"]["epochs"] == 3
    summary = json.loads((tmp_path / "study" / "study.json").read_text())
    for name, result in results.items():
        assert summary[name]["test"] == result["test"]
    # the toy users keep to one half of the catalogue: a trained model must see it, while
    # popularity (both halves alike) cannot; random ranking is computed exactly
    config = load_config(tmp_path / "study" / "mf-bpr" / "config.yaml")
    prep = prepare(config, tmp_path / "study", progress=False)
    _, test, _ = split_evaluators(prep, config, torch.device("cpu"))
    random = expected_random_metrics(test)["recall@10"]
    mf = summary["mf-bpr"]["test"]["recall@10"]["mean"]
    assert mf > random + 0.1 and mf > summary["most-popular"]["test"]["recall@10"]["mean"] + 0.1
    # the runs also say how their lists spread: popularity fills every list with the same
    # most-rated items, mf-bpr's follow each user's half of the catalogue
    spread = {name: {m: summary[name]["test"][f"{m}@10"]["mean"] for m in ("arp", "tail", "gini")}
              for name in results}  # fmt: skip
    pop, mf_spread = spread["most-popular"], spread["mf-bpr"]
    assert pop["arp"] > mf_spread["arp"] and pop["gini"] > mf_spread["gini"] + 0.1
    assert pop["tail"] <= mf_spread["tail"]


def test_demo_command_prints_the_table(tmp_path):
    spec = tmp_path / "demo.yaml"
    spec.write_text(yaml.safe_dump(spec_for(tmp_path, [{"name": "itemknn"}, {"name": "lightgcn"}])))
    result = CliRunner().invoke(
        app, ["demo", "--spec", str(spec), "-o", str(tmp_path / "out"), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert "itemknn" in result.output and "lightgcn" in result.output
    assert "recall@10" in result.output and "tail@10" in result.output  # toy ks: 5, 10


def test_the_demo_table_says_how_each_row_was_made(tmp_path):
    """A row scored without masks is marked as such, and the protocol line gives every
    model's seeds, metric and patience, not only the first model's."""
    models = [
        {"name": "most-popular"},
        {"name": "most-popular", "run": "pop-repeat", "evaluate": {"repeat": True}},
        {"name": "mf-bpr", "seeds": [1, 2], "train": {"metric": "ndcg@10", "patience": 2}},
    ]
    spec = tmp_path / "demo.yaml"
    spec.write_text(yaml.safe_dump({**spec_for(tmp_path, models), "train": {"epochs": 2}}))
    out = tmp_path / "out"
    command = ["demo", "--spec", str(spec), "-o", str(out), "--quiet"]
    result = CliRunner().invoke(app, command, env={"COLUMNS": "250"})  # rows not cut short
    assert result.exit_code == 0, result.output
    shown = " ".join(result.output.replace("│", " ").split())
    assert "pop-repeat, nothing masked (evaluate.repeat)" in shown
    assert "seeds [1]/[1, 2]" in shown and "recall@20/ndcg@10 (patience 20/2)" in shown
    study = json.loads((out / "study.json").read_text())
    assert study["pop-repeat"]["repeat"] and not study["most-popular"]["repeat"]


def test_a_model_entry_may_not_bring_its_own_data_or_split(tmp_path):
    from fusionrec.errors import ConfigError
    from fusionrec.train.study import study_configs

    for key, value in (
        ("dataset", {"name": "movielens-100k-mm"}),
        ("split", {"method": "temporal"}),
    ):
        spec = spec_for(tmp_path, [{"name": "itemknn"}, {"name": "mf-bpr", key: value}])
        with pytest.raises(ConfigError, match=rf"models\[1\] \(mf-bpr\) sets \['{key}'\]"):
            study_configs(spec)


def test_two_entries_of_one_model_need_their_own_run_names(tmp_path):
    from fusionrec.errors import ConfigError
    from fusionrec.train.study import study_configs

    twice = [{"name": "mf-bpr", "params": {"embedding_size": 8}}, {"name": "mf-bpr"}]
    with pytest.raises(ConfigError, match=r"models\[0\] and models\[1\] would both write"):
        study_configs(spec_for(tmp_path, twice))
    twice[1]["run"] = "mf-bpr-64"
    names = [c.run_name for c in study_configs(spec_for(tmp_path, twice))]
    assert names == ["mf-bpr", "mf-bpr-64"]


def test_a_study_layers_each_model_s_preset_as_train_does(tmp_path):
    from fusionrec.config import with_presets
    from fusionrec.train.study import study_configs

    spec = spec_for(tmp_path, [{"name": "mf-bpr"}])
    del spec["train"]["lr"]
    (cfg,) = study_configs(spec)
    preset = with_presets({"model": {"name": "mf-bpr"}})
    assert cfg.model.params == preset.model.params and cfg.model.params  # the chosen defaults
    assert cfg.train.lr == preset.train.lr
    (bare,) = study_configs(spec, presets=False)
    assert bare.model.params == {}


def test_a_rerun_study_makes_the_split_its_spec_names(tmp_path):
    spec = spec_for(tmp_path, [{"name": "most-popular"}])
    run_study(spec, tmp_path / "study", progress=False)
    spec["split"] = {"method": "leave-one-out", "seed": 7}
    run_study(spec, tmp_path / "study", progress=False)
    saved = json.loads((tmp_path / "study" / "most-popular" / "split.json").read_text())
    assert saved["method"] == "leave-one-out"
    with pytest.raises(Exception, match=r"--models: \['nothing'\] not in the study"):
        run_study(spec, tmp_path / "study", progress=False, only=["nothing"])
