"""``fusionrec tune``: shipped spaces, a searched modality set, and a search that resumes
where it stopped."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from fusionrec.config import validate_config
from fusionrec.errors import ConfigError
from fusionrec.models import MODELS
from fusionrec.train import tune as tune_module
from fusionrec.train.tune import apply_settings, shipped_space, tune
from toy_data import write_toy_dataset, write_toy_features

SPACE = {
    "train.lr": {"type": "float", "low": 1e-3, "high": 5e-2, "log": True},
    "model.params.reg_weight": {"type": "float", "low": 1e-6, "high": 1e-2, "log": True},
}


def config(tmp_path, model: str = "mf-bpr", n_trials: int = 3, **extra: Any):
    data = write_toy_dataset(tmp_path / "data")
    search = extra.pop(
        "search", {"n_trials": n_trials, "space": {**SPACE, **extra.pop("space", {})}}
    )
    return validate_config(
        {
            "name": f"toy-{model}",
            "dataset": {"name": "toy", "path": str(data)},
            "model": {"name": model},
            "train": {"epochs": 2, "lr": 0.01, "batch_size": 128, "metric": "recall@10"},
            "evaluate": {"ks": [5, 10]},
            "seeds": [1],
            "search": search,
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


def test_a_search_saved_before_a_config_field_existed_resumes(tmp_path, trained):
    """A search saved by an older version lacks the fields added since (``dataset.sep``);
    they are at their defaults there, so the search continues rather than starting over."""
    first = tune(config(tmp_path, n_trials=1), tmp_path / "run")
    saved_path = tmp_path / "run" / "search_config.yaml"
    saved = yaml.safe_load(saved_path.read_text(encoding="utf-8"))
    del saved["dataset"]["sep"]
    saved_path.write_text(yaml.safe_dump(saved), encoding="utf-8")
    trained.clear()
    resumed = tune(config(tmp_path, n_trials=2), tmp_path / "run", resume=True)
    assert resumed["trials"][0] == first["trials"][0]
    # the second trial, and the best run only if the second trial is the better one
    assert 1 <= len(trained) <= 2


def test_a_search_resumes_on_another_device_and_thread_count(tmp_path, trained, caplog):
    """Where and how trials run may change between the parts of a search (a laptop, then a
    GPU machine); each trial says which device scored it."""
    cpu = config(tmp_path, n_trials=2)
    cpu = cpu.model_copy(update={"train": cpu.train.model_copy(update={"device": "cpu"})})
    tune(cpu, tmp_path / "run")
    trained.clear()
    later = config(tmp_path, n_trials=3)
    later = later.model_copy(update={"train": later.train.model_copy(update={"threads": 2})})
    with caplog.at_level("INFO", logger="fusionrec.train.tune"):
        resumed = tune(later, tmp_path / "run", resume=True)
    assert len(trained) == 1  # the two recorded trials are kept, not trained again
    assert "train.device: cpu (saved) != auto (now)" in caplog.text
    assert "train.threads" in caplog.text
    assert [t["device"] for t in resumed["trials"]] == ["cpu"] * 3


def test_trials_say_which_code_ran_them_and_a_resume_under_other_code_says_so(
    tmp_path, trained, caplog, monkeypatch
):
    """A search of tens of CPU-hours resumes over days, maybe under edited code: each trial
    records the code version (a digest of the package's source and presets) and a resume
    under another names the trials that ran under other code."""
    from fusionrec.train import provenance

    first = tune(config(tmp_path, n_trials=2), tmp_path / "run")
    now = provenance.code_version()
    assert [t["code"] for t in first["trials"]] == [now, now]
    assert json.loads((tmp_path / "run" / "best" / "manifest.json").read_text())["code"] == now
    with caplog.at_level("WARNING", logger="fusionrec.train.tune"):
        tune(config(tmp_path, n_trials=3), tmp_path / "run", resume=True)
    assert "other code" not in caplog.text  # same code: nothing to say
    monkeypatch.setattr(tune_module, "code_version", lambda: "0.1.0+edited")
    with caplog.at_level("WARNING", logger="fusionrec.train.tune"):
        resumed = tune(config(tmp_path, n_trials=4), tmp_path / "run", resume=True)
    assert f"trials [0, 1, 2] under {now}" in caplog.text
    assert "continues under fusionrec 0.1.0+edited" in caplog.text
    assert [t["code"] for t in resumed["trials"]] == [now] * 3 + ["0.1.0+edited"]
    older = json.loads((tmp_path / "run" / "trials.json").read_text())
    del older[0]["code"]  # a trial recorded before the code was
    (tmp_path / "run" / "trials.json").write_text(json.dumps(older))
    with caplog.at_level("WARNING", logger="fusionrec.train.tune"):
        tune(config(tmp_path, n_trials=4), tmp_path / "run", resume=True)
    assert "trials [0] (code not recorded); trials [1, 2] under" in caplog.text


def test_the_code_version_follows_the_source_and_presets(tmp_path, monkeypatch):
    import fusionrec
    from fusionrec.train import provenance

    package = tmp_path / "fusionrec"
    (package / "presets").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "presets" / "mf-bpr.yaml").write_text("train: {lr: 0.001}\n")
    monkeypatch.setattr(fusionrec, "__file__", str(package / "__init__.py"))
    versions = []
    for edit in ("", "train: {lr: 0.002}\n"):
        if edit:
            (package / "presets" / "mf-bpr.yaml").write_text(edit)
        provenance.code_version.cache_clear()
        versions.append(provenance.code_version())
    provenance.code_version.cache_clear()
    assert versions[0] != versions[1] and versions[0].startswith(fusionrec.__version__ + "+")


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


#: registered models with nothing to tune
UNTUNABLE = {"most-popular"}


def _bounds(space: dict[str, Any]) -> list[Any]:
    return space["choices"] if space["type"] == "categorical" else [space["low"], space["high"]]


@pytest.mark.parametrize("model", sorted(set(MODELS) - UNTUNABLE))
def test_every_trainable_model_ships_a_space_of_valid_settings(model):
    """A new model is covered the day it is registered: its space must exist, and every bound
    and choice of it must be a setting the config accepts for that model."""
    space = shipped_space(model)
    assert space, f"{model} ships no search space (src/fusionrec/presets/spaces/{model}.yaml)"
    for key, spec in space.items():
        section, *rest = key.split(".")
        assert section in ("train", "model") and rest, key
        for value in _bounds(spec):
            base = {"dataset": {"name": "toy"}, "model": {"name": model}}
            validate_config(apply_settings(base, {key: value}), source=f"{model} {key}={value}")


def test_a_config_without_a_space_searches_the_model_s_shipped_space(tmp_path):
    summary = tune(config(tmp_path, search={"n_trials": 2}), tmp_path / "run")
    shipped = shipped_space("mf-bpr")
    assert [set(t["params"]) for t in summary["trials"]] == [set(shipped)] * 2
    for trial in summary["trials"]:
        for key, value in trial["params"].items():
            assert shipped[key]["low"] <= value <= shipped[key]["high"]
    recorded = yaml.safe_load((tmp_path / "run" / "search_config.yaml").read_text())
    assert recorded["search"]["space"] == shipped  # what a resume is compared with


def test_a_config_with_no_search_section_tunes_with_the_defaults(tmp_path):
    cfg = config(tmp_path, search=None)
    assert cfg.search is None
    resolved = tune_module.resolve_search(cfg)
    assert resolved.search == {"space": shipped_space("mf-bpr"), "n_trials": 20}


def test_modality_sets_searches_every_subset_of_the_encoded_modalities(tmp_path, trained):
    cfg = config(
        tmp_path,
        model="vbpr",
        search={"n_trials": 6, "modality_sets": True},
        features={
            "modalities": ["text", "image"],
            "precomputed": write_toy_features(tmp_path),
            "cache_dir": str(tmp_path / "cache"),
        },
    )
    summary = tune(cfg, tmp_path / "run")
    recorded = yaml.safe_load((tmp_path / "run" / "search_config.yaml").read_text())
    choices = recorded["search"]["space"]["features.modalities"]["choices"]
    assert choices == [["text"], ["image"], ["text", "image"]]
    assert set(recorded["search"]["space"]) == {*shipped_space("vbpr"), "features.modalities"}
    seen = [t["modalities"] for t in trained]
    assert [t["params"]["features.modalities"] for t in summary["trials"]] == seen
    assert len({tuple(s) for s in seen}) > 1


def test_modality_sets_needs_two_modalities_and_a_model_without_a_space_is_named(tmp_path):
    one = config(
        tmp_path,
        model="vbpr",
        search={"n_trials": 1, "modality_sets": True},
        features={"modalities": ["text"], "precomputed": write_toy_features(tmp_path)},
    )
    with pytest.raises(ConfigError, match=r"modality_sets: list at least two modalities"):
        tune(one, tmp_path / "one")
    with pytest.raises(ConfigError, match=r"model 'most-popular' ships no search space"):
        tune(config(tmp_path, model="most-popular", search={"n_trials": 1}), tmp_path / "pop")
    assert not (tmp_path / "pop").exists()  # refused before anything was written


def test_a_trial_stopped_midway_continues_from_its_last_epoch(tmp_path, monkeypatch):
    """A search killed inside a trial loses what came after the trial's last checkpoint
    (here one every epoch): on resume that trial goes on from it, and the search ends as an
    uninterrupted one does."""
    from fusionrec.train import trainer as trainer_module
    from fusionrec.train.trainer import TrainingInterrupted

    train = {"epochs": 4, "lr": 0.01, "batch_size": 128, "metric": "recall@10", "patience": 10,
             "checkpoint_seconds": 0}  # fmt: skip
    whole = tune(config(tmp_path, n_trials=2, train=train), tmp_path / "whole")
    epochs: list[int] = []
    real = trainer_module.Trainer.train_epoch
    stop_at = {"call": 6}  # trial 0 trains epochs 1-4; stop trial 1 before its epoch 2

    def counting(self, epoch):
        epochs.append(epoch)
        if len(epochs) == stop_at["call"]:
            raise KeyboardInterrupt
        return real(self, epoch)

    monkeypatch.setattr(trainer_module.Trainer, "train_epoch", counting)
    with pytest.raises(TrainingInterrupted):
        tune(config(tmp_path, n_trials=2, train=train), tmp_path / "part")
    assert (tmp_path / "part" / "trials" / "1" / "seed-1" / "checkpoint.pt").exists()
    epochs.clear()
    stop_at["call"] = -1
    resumed = tune(config(tmp_path, n_trials=2, train=train), tmp_path / "part", resume=True)
    assert epochs == [2, 3, 4, 1, 2, 3, 4]  # trial 1 from epoch 2, then the best setting's run
    assert resumed["trials"] == whole["trials"]
    assert resumed["test"] == whole["test"]
    assert list((tmp_path / "part" / "trials").iterdir()) == []  # recorded trials leave nothing


def test_a_new_search_in_an_old_folder_makes_its_own_split(tmp_path):
    """A search re-run without resume replaces the last one; its split must not survive."""
    run = tmp_path / "tune"
    first = config(tmp_path, n_trials=1, split={"method": "random", "seed": 3})
    tune(first, run)
    assert json.loads((run / "split.json").read_text())["method"] == "random"
    tune(
        first.model_copy(update={"split": first.split.model_copy(update={"method": "temporal"})}),
        run,
    )
    assert json.loads((run / "split.json").read_text())["method"] == "temporal"
    assert json.loads((run / "best" / "split.json").read_text())["method"] == "temporal"


@pytest.mark.parametrize(
    ("setting", "pattern"),
    [
        ({"train.lr": {"type": "float", "low": 0.1, "high": 0.01}}, r"low \(0.1\) is above high"),
        ({"train.lr": {"type": "float", "low": 0, "high": 0.1, "log": True}},
         r"log: true needs low > 0"),
        ({"train.lrr": {"type": "float", "low": 0.01, "high": 0.1}},
         r"search.space.train.lrr: .*lrr"),
        ({"model.params.reg_weight": {"type": "categorical", "choices": [0.1, "big"]}},
         r"search.space.model.params.reg_weight: the value 'big' is invalid"),
    ],
)  # fmt: skip
def test_a_bad_space_is_named_before_any_data_is_read(tmp_path, monkeypatch, setting, pattern):
    monkeypatch.setattr(tune_module, "prepare", lambda *a, **k: pytest.fail("data was read"))
    with pytest.raises(ConfigError, match=pattern):
        tune(config(tmp_path, space=setting), tmp_path / "tune")


def test_modality_sets_for_a_model_that_reads_no_features_is_refused(tmp_path):
    cfg = config(tmp_path, search={"n_trials": 1, "modality_sets": True},
                 features={"modalities": ["text", "image"]})  # fmt: skip
    with pytest.raises(ConfigError, match="'mf-bpr' reads no item features"):
        tune(cfg, tmp_path / "tune")


def test_a_second_search_in_the_same_folder_is_refused(tmp_path):
    from fusionrec.errors import FusionrecError
    from fusionrec.train.rundir import RunLock

    run = tmp_path / "tune"
    run.mkdir()
    with RunLock(run), pytest.raises(FusionrecError, match="in use by another fusionrec process"):
        tune(config(tmp_path, n_trials=1), run)


def _pruned_search(tmp_path, n_trials: int) -> Any:
    train = {"epochs": 6, "lr": 0.01, "batch_size": 128, "metric": "recall@10", "patience": 10}
    search = {
        "n_trials": n_trials,
        "space": {"train.lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True}},
        "pruner": "median",
        "prune_after_trials": 2,
        "prune_after_epochs": 1,
    }
    return config(tmp_path, search=search, train=train)


def test_the_median_pruner_stops_poor_trials_early_and_a_resumed_search_replays_it(
    tmp_path, monkeypatch
):
    from fusionrec.train import trainer as trainer_module

    epochs: list[int] = []
    real = trainer_module.Trainer.train_epoch

    def counting(self, epoch):
        epochs.append(epoch)
        return real(self, epoch)

    monkeypatch.setattr(trainer_module.Trainer, "train_epoch", counting)
    whole = tune(_pruned_search(tmp_path, 8), tmp_path / "whole")
    trials = whole["trials"]
    pruned = [t for t in trials if t.get("pruned")]
    assert pruned, "no trial was stopped"
    assert min(t["epochs"] for t in pruned) < 6
    assert all(len(t["curve"]) == t["epochs"] for t in trials)  # every epoch reported
    for t in pruned:  # its recorded score is the best it reached before it was stopped
        assert t["valid_recall@10"] == max(v for _, v in t["curve"])
    finished = {json.dumps(t["params"]) for t in trials if not t.get("pruned")}
    assert json.dumps(whole["best_params"]) in finished
    # the stopped trials trained fewer epochs: 8 trials and the best run, 6 epochs each at most
    assert len(epochs) == sum(t["epochs"] for t in trials) + 6
    assert len(epochs) < 9 * 6
    assert json.loads((tmp_path / "whole" / "trials.json").read_text()) == trials

    tune(_pruned_search(tmp_path, 4), tmp_path / "part")
    epochs.clear()
    resumed = tune(_pruned_search(tmp_path, 8), tmp_path / "part", resume=True)
    assert [(t["params"], t.get("pruned"), t["epochs"]) for t in resumed["trials"]] == [
        (t["params"], t.get("pruned"), t["epochs"]) for t in trials
    ]
    assert resumed["best_params"] == whole["best_params"]
    assert len(epochs) == sum(t["epochs"] for t in trials[4:]) + 6  # recorded ones replayed


def test_without_a_pruner_every_trial_trains_out_and_records_no_curve(tmp_path):
    summary = tune(config(tmp_path, n_trials=2), tmp_path / "search")
    assert all("pruned" not in t and "curve" not in t for t in summary["trials"])


def test_a_bad_pruner_setting_is_named(tmp_path):
    with pytest.raises(ConfigError, match="search.pruner"):
        tune(config(tmp_path, search={"n_trials": 2, "pruner": "hyperband"}), tmp_path / "s")
