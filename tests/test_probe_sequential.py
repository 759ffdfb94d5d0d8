"""``benchmarks/probe_sequential.py report``: every kept probe in one table, seeds side by side."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from probe_sequential import report  # noqa: E402


def _record(folder: Path, tag: str, seed: int, ndcg: float, **extra) -> None:
    record = {"tag": tag, "model": "mmsasrec", "params": {"gate_init": -3.0}, "seed": seed,
              "valid": {"ndcg@10": ndcg}, "best_epoch": 10 * seed, "s_per_epoch": 2.0,
              "commit": "abcdef1234567", **extra}  # fmt: skip
    (folder / f"{tag}-s{seed}.json").write_text(json.dumps(record))


def test_each_setting_is_one_row_with_its_seeds_in_their_columns(tmp_path):
    _record(tmp_path, "gate", 1, 0.12)
    _record(tmp_path, "gate", 3, 0.14)
    _record(tmp_path, "plain", 2, 0.10, params={}, modalities="text")
    rows = [r for r in report(argparse.Namespace(records=tmp_path)).splitlines() if r[:2] == "| "]
    assert rows[0].startswith("| tag | model | setting | seed 1 | seed 2 | seed 3 | mean |")
    assert rows[1] == (
        "| gate | mmsasrec | gate_init=-3.0 | 0.1200 |  | 0.1400 | 0.1300 | 10, 30 | 2.0 | "
        "not recorded | abcdef123 |"
    )
    assert rows[2].startswith("| plain | mmsasrec | defaults; modalities text |  | 0.1000 |  |")


def test_no_records_is_an_error_that_says_what_to_run(tmp_path):
    with pytest.raises(SystemExit, match="run a probe first"):
        report(argparse.Namespace(records=tmp_path))


def test_each_dataset_has_its_own_table_and_a_tag_may_recur_across_them(tmp_path):
    _record(tmp_path, "gate", 1, 0.12)  # a record from before datasets were recorded: dense
    (tmp_path / "sparse").mkdir()
    _record(tmp_path / "sparse", "gate", 1, 0.08, dataset="movielens-latest-small-mm")
    (tmp_path / "sparse" / "gate-s1.json").rename(tmp_path / "sparse-gate-s1.json")
    text = report(argparse.Namespace(records=tmp_path))
    dense, sparse = text.split("## movielens-100k-mm")[1].split("## movielens-latest-small-mm")
    assert "| gate | mmsasrec | gate_init=-3.0 | 0.1200 |" in dense and "0.0800" not in dense
    assert "| gate | mmsasrec | gate_init=-3.0 | 0.0800 |" in sparse


def test_the_sparse_catalogue_is_read_as_the_sparse_study_reads_it_with_a_leave_one_out_split():
    from bench_sequential import make_config

    study = argparse.Namespace(seeds=1, epochs=1, threads=1, device="cpu",
                               dataset="movielens-latest-small-mm")  # fmt: skip
    config = make_config(study, "sasrec")
    assert config.dataset.name == "movielens-latest-small-mm"
    assert config.dataset.path.endswith("movielens-latest-small-mm/ratings.csv")
    assert config.dataset.image_pattern == "posters/{movieId}.jpg"
    assert config.split.method == "leave-one-out"


def _probe_args(model: str, **extra) -> argparse.Namespace:
    base = {"epochs": 1, "device": "cpu", "features_from": None, "modalities": None,
            "dataset": "movielens-100k-mm"}  # fmt: skip
    return argparse.Namespace(model=model, **{**base, **extra})


def test_a_probe_changes_the_probe_base_not_the_setting_the_study_has_chosen_since():
    from bench_sequential import MODELS
    from probe_sequential import probe_config

    assert MODELS["mmsasrec"][0]["content"] == "prior"  # the study's choice
    plain = probe_config(_probe_args("mmsasrec"), {}).model.params
    assert plain.get("content", "add") == "add" and plain.get("window_stride") is None
    strided = probe_config(_probe_args("sasrec"), {"window_stride": 10}).model.params
    assert strided["window_stride"] == 10 and strided["n_layers"] == 2
    texts = probe_config(_probe_args("mmsasrec", modalities="text"), {})
    assert texts.features["modalities"] == ["text"]


def _seeds(folder: Path, model: str, tag: str, params: dict, dense: list, sparse: list) -> None:
    for dataset, values in (("movielens-100k-mm", dense), ("movielens-latest-small-mm", sparse)):
        for seed, value in enumerate(values, start=1):
            record = {"tag": tag, "model": model, "params": params, "seed": seed,
                      "dataset": dataset, "valid": {"ndcg@10": value}, "best_epoch": 5,
                      "s_per_epoch": 1.0, "commit": "abcdef1234567"}  # fmt: skip
            (folder / f"{dataset}-{tag}-s{seed}.json").write_text(json.dumps(record))


def _defaults_rows(folder: Path) -> dict[str, str]:
    text = report(argparse.Namespace(records=folder)).split("## Defaults across both datasets")[1]
    return {row.split(" | ")[1]: row for row in text.splitlines() if row.startswith("| sasrec")}


def test_a_setting_that_leads_on_every_seed_of_both_datasets_becomes_the_default(tmp_path):
    _seeds(tmp_path, "sasrec", "plain", {}, [0.120, 0.121, 0.125], [0.070, 0.072, 0.071])
    _seeds(tmp_path, "sasrec", "stride", {"window_stride": 25}, [0.127, 0.128, 0.129],
           [0.075, 0.080, 0.076])  # fmt: skip
    rows = _defaults_rows(tmp_path)
    assert rows["window_stride=25"].endswith("| **yes** |")
    assert rows["defaults"].endswith("|  |  |")
    assert "| 1.0000 | +0." in rows["window_stride=25"]


def test_a_lead_inside_the_seed_spread_leaves_the_defaults_in_place(tmp_path):
    # ahead on average (0.1265 against 0.1230) but behind on one seed of each dataset
    _seeds(tmp_path, "sasrec", "plain", {}, [0.120, 0.130, 0.119], [0.070, 0.080, 0.071])
    _seeds(tmp_path, "sasrec", "stride", {"window_stride": 25}, [0.133, 0.118, 0.128],
           [0.081, 0.069, 0.079])  # fmt: skip
    rows = _defaults_rows(tmp_path)
    assert rows["defaults"].endswith("| **yes** |")
    assert not rows["window_stride=25"].endswith("| **yes** |")


def test_a_setting_matches_across_datasets_by_what_differs_from_the_schema(tmp_path):
    # mmsasrec's gate_init -3.0 is its schema default: the same setting as no params at all
    _seeds(tmp_path, "mmsasrec", "gate", {"gate_init": -3.0}, [0.12] * 3, [0.08] * 3)
    for path in tmp_path.glob("movielens-latest-small-mm-*"):
        record = json.loads(path.read_text())
        path.write_text(json.dumps({**record, "params": {}, "tag": "plain"}))
    _seeds(tmp_path, "mmsasrec", "prior", {"content": "prior"}, [0.13] * 3, [0.07] * 3)
    text = report(argparse.Namespace(records=tmp_path)).split("## Defaults across both")[1]
    assert "| mmsasrec | defaults | 0.1200 | 0.0800 |" in text
    assert "| mmsasrec | content=prior | 0.1300 | 0.0700 |" in text


def test_a_model_without_every_seed_on_both_datasets_is_listed_as_not_yet_chosen(tmp_path):
    _seeds(tmp_path, "sasrec", "plain", {}, [0.12, 0.12, 0.12], [0.07, 0.07])
    _seeds(tmp_path, "sasrec", "stride", {"window_stride": 25}, [0.13] * 3, [0.08] * 3)
    text = report(argparse.Namespace(records=tmp_path))
    assert "- not yet chosen (the defaults and another setting need every seed on both " in text
    assert text.rstrip().endswith("datasets): sasrec")
    assert "| sasrec | defaults |" not in text.split("## Defaults")[1]


def test_a_probe_may_change_training_settings_and_is_then_another_setting(tmp_path):
    from probe_sequential import probe_config

    config = probe_config(_probe_args("sasrec", train='{"batch_size": 2048}'), {})
    assert config.train.batch_size == 2048 and config.train.metric == "ndcg@10"
    with pytest.raises(ValueError, match="batch_size"):
        probe_config(_probe_args("sasrec", train='{"batch_size": 0}'), {})
    _seeds(tmp_path, "sasrec", "plain", {}, [0.12] * 3, [0.07] * 3)
    _seeds(tmp_path, "sasrec", "big", {}, [0.10] * 3, [0.06] * 3)
    for path in tmp_path.glob("*-big-*"):
        record = json.loads(path.read_text())
        path.write_text(json.dumps({**record, "train_changes": {"batch_size": 2048}}))
    rows = _defaults_rows(tmp_path)
    assert rows["defaults"].endswith("| **yes** |")
    assert rows["train.batch_size=2048"].startswith("| sasrec | train.batch_size=2048 | 0.1000 |")


def test_write_presets_layers_a_chosen_setting_into_the_preset_and_leaves_defaults_alone(
    tmp_path, monkeypatch
):
    import yaml

    import bench_defaults
    from fusionrec.io import read_json
    from probe_sequential import RESULTS, write_presets

    presets = tmp_path / "presets"
    presets.mkdir()
    (presets / "sasrec.yaml").write_text("train:\n  batch_size: 128\n")
    monkeypatch.setattr(bench_defaults, "PRESETS", presets)
    records = tmp_path / "records"
    records.mkdir()
    _seeds(records, "sasrec", "plain", {}, [0.120, 0.121, 0.125], [0.070, 0.072, 0.071])
    _seeds(records, "sasrec", "stride", {"window_stride": 25}, [0.127, 0.128, 0.129],
           [0.075, 0.080, 0.076])  # fmt: skip
    _seeds(records, "gru4rec", "gru-plain", {}, [0.10] * 3, [0.05] * 3)
    _seeds(records, "gru4rec", "gru-stride", {"window_stride": 25}, [0.09] * 3, [0.04] * 3)
    loaded = [read_json(p) for p in sorted(records.glob("*.json"))]
    written = write_presets(loaded, RESULTS / "sequential_probes.md")
    assert written == [presets / "sasrec.yaml"] and not (presets / "gru4rec.yaml").exists()
    text = (presets / "sasrec.yaml").read_text()
    assert "by benchmarks/probe_sequential.py" in text
    assert "(benchmarks/results/sequential_probes.md, commit " in text
    preset = yaml.safe_load(text)
    assert preset == {"train": {"batch_size": 128}, "model": {"params": {"window_stride": 25}}}


def test_once_a_preset_changes_the_defaults_the_records_are_read_against_it(tmp_path, monkeypatch):
    import fusionrec.config

    presets = tmp_path / "presets"
    (presets / "models").mkdir(parents=True)
    (presets / "models" / "sasrec.yaml").write_text("model: {params: {window_stride: 25}}\n")
    monkeypatch.setattr(fusionrec.config, "PRESETS", presets)
    records = tmp_path / "records"
    records.mkdir()
    _seeds(records, "sasrec", "plain", {}, [0.12] * 3, [0.07] * 3)
    _seeds(records, "sasrec", "stride", {"window_stride": 25}, [0.13] * 3, [0.08] * 3)
    rows = _defaults_rows(records)
    assert rows["defaults"].startswith("| sasrec | defaults | 0.1300 | 0.0800 |")
    assert rows["window_stride=None"].startswith("| sasrec | window_stride=None | 0.1200 |")


def test_a_probe_that_names_its_training_settings_replaces_an_older_one_that_did_not(tmp_path):
    from probe_sequential import study_train

    sparse = study_train("gru4rec", "movielens-latest-small-mm")
    dense = study_train("gru4rec", "movielens-100k-mm")
    assert sparse["patience"] == 30 and dense["patience"] == 10
    _seeds(tmp_path, "gru4rec", "plain", {}, [0.11] * 3, [0.05] * 3)
    _seeds(tmp_path, "gru4rec", "stride", {"window_stride": 25}, [0.12] * 3, [0.02] * 3)
    # the sparse stride probes again, recording the study's settings (patience 30)
    for seed in (1, 2, 3):
        record = {"tag": "stride-p30", "model": "gru4rec", "params": {"window_stride": 25},
                  "seed": seed, "dataset": "movielens-latest-small-mm", "train": sparse,
                  "valid": {"ndcg@10": 0.06}, "best_epoch": 5, "s_per_epoch": 1.0}  # fmt: skip
        (tmp_path / f"movielens-latest-small-mm-stride-p30-s{seed}.json").write_text(
            json.dumps(record)
        )
    full = report(argparse.Namespace(records=tmp_path))
    sparse_rows = full.split("## movielens-latest-small-mm")[1].split("## Defaults")[0]
    assert "| stride-p30 | gru4rec | window_stride=25 | 0.0600 |" in sparse_rows
    assert [r.split(" | ")[-2] for r in sparse_rows.splitlines() if "| gru4rec |" in r] == [
        "not recorded", "not recorded", "the study's"
    ]  # fmt: skip
    text = full.split("## Defaults across both")[1]
    assert "| gru4rec | window_stride=25 | 0.1200 | 0.0600 |" in text
    assert "- set aside (a later probe of the same setting and seed records its training " in text
    assert "small-mm-stride seed 1, movielens-latest-small-mm-stride seed 2, " in text


def test_a_probe_trained_with_a_patience_the_study_no_longer_uses_is_its_own_setting(tmp_path):
    from probe_sequential import study_train

    _seeds(tmp_path, "gru4rec", "plain", {}, [0.11] * 3, [0.05] * 3)
    for path in tmp_path.glob("movielens-latest-small-mm-*"):
        record = json.loads(path.read_text())
        train = {**study_train("gru4rec", "movielens-latest-small-mm"), "patience": 10}
        path.write_text(json.dumps({**record, "train": train}))
    _seeds(tmp_path, "gru4rec", "stride", {"window_stride": 25}, [0.12] * 3, [0.06] * 3)
    text = report(argparse.Namespace(records=tmp_path))
    assert text.rstrip().endswith("datasets): gru4rec")  # its defaults lack sparse seeds
    sparse_rows = text.split("## movielens-latest-small-mm")[1].split("## Defaults")[0]
    assert "| 1.0 | patience=10 | abcdef123 |" in sparse_rows


def test_unmasked_probes_have_their_own_section_and_never_choose_the_defaults(tmp_path):
    _seeds(tmp_path, "sasrec", "plain", {}, [0.120, 0.121, 0.125], [0.070, 0.072, 0.071])
    _seeds(tmp_path, "sasrec", "stride", {"window_stride": 25}, [0.110, 0.111, 0.112],
           [0.060, 0.061, 0.062])  # fmt: skip
    # far ahead, on both datasets' seeds, but scored with nothing masked: another evaluation
    _seeds(tmp_path, "sasrec", "bert", {"block": "bert"}, [0.3, 0.3, 0.3], [0.2, 0.2, 0.2])
    for path in tmp_path.glob("*bert*"):  # the side-by-side is on the dense set alone
        record = json.loads(path.read_text())
        path.unlink()
        if record["dataset"] == "movielens-100k-mm":
            marked = {**record, "unmasked": True}
            (tmp_path / f"unmasked-{path.name}").write_text(json.dumps(marked))
    text = report(argparse.Namespace(records=tmp_path))
    own, side = text.split("## Defaults across both datasets")[0].split(", nothing masked")
    assert "| bert |" not in own and "| bert | sasrec | block=bert | 0.3000 |" in side
    rows = _defaults_rows(tmp_path)
    assert "block=bert" not in rows and rows["defaults"].endswith("| **yes** |")


def test_an_unmasked_probe_trains_as_the_side_by_side_table_does(monkeypatch):
    """The probe's batch and scoring are the side-by-side table's, so a setting chosen by
    such probes means the same in that table."""
    import types

    import numpy as np

    import bench_sequential
    from fusionrec.data.sequences import Sequences
    from probe_sequential import probe_config, record_name

    lengths = np.random.default_rng(0).integers(20, 700, size=943)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    sequences = Sequences(indptr, np.zeros(indptr[-1], dtype=np.int64))
    monkeypatch.setattr(
        bench_sequential, "train_data", lambda *a: types.SimpleNamespace(sequences=sequences)
    )
    side = bench_sequential.SIDE_MODELS["sasrec"]
    probed = bench_sequential.as_side_by_side(probe_config(_probe_args("sasrec"), side), None)
    study = argparse.Namespace(seeds=1, epochs=1, threads=1, device="cpu")
    table = bench_sequential.side_by_side_config(study, "sasrec", None)
    assert probed.evaluate.repeat and table.evaluate.repeat
    assert probed.train.batch_size == table.train.batch_size
    assert probed.model.params == table.model.params
    assert record_name("bert", "movielens-100k-mm", unmasked=True) == "unmasked-bert"
