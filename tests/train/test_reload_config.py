"""A run is rebuilt from the settings it was trained with, not from today's presets.

Presets change between versions (``bench_defaults.py`` writes newly chosen defaults into
them). LightGCN's layer count is no weight, so a run reloaded with a preset layered under its
config would load its weights into a deeper model and silently score differently."""

from __future__ import annotations

import pytest

from fusionrec import config as config_module
from fusionrec.api import load
from fusionrec.config import load_config, validate_config
from fusionrec.train.experiment import run_experiment
from fusionrec.train.reload import load_run_model, rescore_run
from toy_data import write_toy_dataset


@pytest.fixture
def finished_run(tmp_path):
    data = write_toy_dataset(tmp_path / "data")
    cfg = validate_config(
        {
            "dataset": {"name": "toy", "path": str(data)},
            "model": {"name": "lightgcn"},  # the schema's defaults: 2 layers
            "train": {"epochs": 3, "lr": 0.01, "batch_size": 128, "metric": "recall@10"},
            "evaluate": {"ks": [5, 10]},
            "seeds": [1],
        }
    )
    results = run_experiment(cfg, tmp_path / "run", progress=False)
    return tmp_path / "run", results


def test_a_run_reloads_as_trained_after_its_model_preset_changed(
    finished_run, tmp_path, monkeypatch
):
    run_dir, results = finished_run
    presets = tmp_path / "presets"
    (presets / "models").mkdir(parents=True)
    (presets / "models" / "lightgcn.yaml").write_text(
        "model: {params: {n_layers: 4, reg_weight: 0.5}}\ntrain: {lr: 0.123}\n"
    )
    monkeypatch.setattr(config_module, "PRESETS", presets)
    assert load_config(base={"model": {"name": "lightgcn"}}).model.params["n_layers"] == 4

    model, _ = load_run_model(run_dir)
    assert model.params.n_layers == 2
    assert load(run_dir).model.params.n_layers == 2
    assert rescore_run(run_dir)[1] == pytest.approx(results["per_seed"][0]["test"], abs=1e-6)
