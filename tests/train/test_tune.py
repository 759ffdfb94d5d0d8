"""``fusionrec tune``: a searched modality set, and a search that resumes where it stopped."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from fusionrec.config import validate_config
from fusionrec.errors import ConfigError
from fusionrec.train import tune as tune_module
from fusionrec.train.tune import tune
from toy_data import write_toy_dataset, write_toy_features

SPACE = {
    "train.lr": {"type": "float", "low": 1e-3, "high": 5e-2, "log": True},
    "model.params.reg_weight": {"type": "float", "low": 1e-6, "high": 1e-2, "log": True},
}


def config(tmp_path, model: str = "mf-bpr", n_trials: int = 3, **extra: Any):
    data = write_toy_dataset(tmp_path / "data")
    return validate_config(
        {
            "name": f"toy-{model}",
            "dataset": {"name": "toy", "path": str(data)},
            "model": {"name": model},
            "train": {"epochs": 2, "lr": 0.01, "batch_size": 128, "metric": "recall@10"},
            "evaluate": {"ks": [5, 10]},
            "seeds": [1],
            "search": {"n_trials": n_trials, "space": {**SPACE, **extra.pop("space", {})}},
            "output_dir": str(tmp_path / "runs"),
            **extra,
        }
    )


@pytest.fixture
def trained(monkeypatch) -> list[dict[str, Any]]:
    """Every trial that really trains: its searched params and the modalities it saw."""
    calls: list[dict[str, Any]] = []
    real = tune_module.run_seed

    def spy(cfg, prep, *args, **kwargs):
        calls.append(
            {
                "lr": cfg.train.lr,
                "modalities": prep.features.names if prep.features is not None else None,
            }
        )
        return real(cfg, prep, *args, **kwargs)

    monkeypatch.setattr(tune_module, "run_seed", spy)
    return calls


def test_resumed_search_replays_recorded_trials_and_proposes_what_a_whole_one_would(
    tmp_path, trained
):
    whole = tune(config(tmp_path, n_trials=5), tmp_path / "whole")
    assert len(trained) == 5
    trained.clear()
    tune(config(tmp_path, n_trials=3), tmp_path / "part")
    assert len(trained) == 3
    trained.clear()
    resumed = tune(config(tmp_path, n_trials=5), tmp_path / "part", resume=True)
    assert len(trained) == 2  # the three recorded trials were not trained again
    assert [t["params"] for t in resumed["trials"]] == [t["params"] for t in whole["trials"]]
    assert resumed["best_params"] == whole["best_params"]
    trained.clear()
    again = tune(config(tmp_path, n_trials=5), tmp_path / "part", resume=True)
    assert trained == []  # every trial and the best run are reused
    assert again["test"] == resumed["test"]


def test_resume_refuses_a_search_with_other_settings(tmp_path):
    tune(config(tmp_path, n_trials=1), tmp_path / "run")
    changed = config(tmp_path, n_trials=2).model_copy(
        update={"train": config(tmp_path).train.model_copy(update={"epochs": 3})}
    )
    with pytest.raises(ConfigError, match=r"different settings: train\.epochs: 2 \(saved\)"):
        tune(changed, tmp_path / "run", resume=True)


def test_modality_set_is_searched_without_re_encoding(tmp_path, trained):
    choices = [["text"], ["image"], ["text", "image"]]
    cfg = config(
        tmp_path,
        model="vbpr",
        n_trials=6,
        space={"features.modalities": {"type": "categorical", "choices": choices}},
        features={
            "modalities": ["text", "image"],
            "precomputed": write_toy_features(tmp_path),
            "cache_dir": str(tmp_path / "cache"),
        },
    )
    summary = tune(cfg, tmp_path / "run")
    seen = [t["modalities"] for t in trained]
    assert [t["params"]["features.modalities"] for t in summary["trials"]] == seen
    assert len({tuple(s) for s in seen}) > 1  # the search tried different sets
    best = summary["best_params"]["features.modalities"]
    chosen = yaml.safe_load((tmp_path / "run" / "best_config.yaml").read_text())
    assert chosen["features"]["modalities"] == best
    manifest = json.loads((tmp_path / "run" / "best" / "manifest.json").read_text())
    assert list(manifest["features"]["modalities"]) == best  # the best run saw only those


def test_a_searched_modality_that_was_not_encoded_is_an_error(tmp_path):
    cfg = config(
        tmp_path,
        model="vbpr",
        n_trials=1,
        space={"features.modalities": {"type": "categorical", "choices": [["audio"]]}},
        features={
            "modalities": ["text", "image"],
            "precomputed": write_toy_features(tmp_path),
            "cache_dir": str(tmp_path / "cache"),
        },
    )
    with pytest.raises(ConfigError, match=r"\['audio'\] not among the encoded modalities"):
        tune(cfg, tmp_path / "run")
