"""``benchmarks/bench_sequential.py``'s verdict: speed is compared only between rows trained
on one machine."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bench_sequential import SHOWN, make_config, summarise, table, verdict  # noqa: E402

GPU, CPU = "NVIDIA H200 (torch 2.11.0+cu130)", "CPU (torch 2.13.0+cpu)"


def _row(ndcg: list[float], seconds: float, device: str) -> dict:
    tests = [dict.fromkeys(SHOWN, v) for v in ndcg]
    return summarise(tests, [seconds] * len(ndcg), [20] * len(ndcg), [seconds] * 2, device)


def _verdict(ours_device: str, theirs_device: str) -> str:
    side = {
        "fusionrec sasrec": _row([0.06, 0.062, 0.058], 0.7, ours_device),
        "RecBole SASRec": _row([0.059, 0.060], 10.9, theirs_device),
    }
    args = argparse.Namespace(recbole_epochs=None, epochs=200, seeds=3, runs=Path("."))
    line, paired = verdict({}, side, args)
    assert paired == (
        "  - paired over users: not computed (RecBole's per-user test scores were not "
        "recorded: its runs predate them)"
    )
    return line


def test_speed_is_compared_on_one_machine_only():
    same = _verdict(GPU, GPU)
    assert "matches or beats by 0.0005" in same and "s/epoch 0.70 vs 10.90 (faster)" in same
    assert "seeds differ: fusionrec 3, RecBole 2" in same
    mixed = _verdict(CPU, GPU)
    assert "matches or beats" in mixed and "faster" not in mixed
    assert f"s/epoch not compared: fusionrec trained on {CPU}, RecBole on {GPU}" in mixed


def test_the_table_names_each_row_s_device():
    rows = table({"sasrec": _row([0.06, 0.062], 7.9, CPU), "gru4rec": None})
    assert rows[0].endswith("| s/epoch | epochs | seeds | trained on |")
    assert rows[2].endswith("| 7.90 | 20 | 2 | CPU |")
    assert rows[3].endswith("| | | 0 | |")


def test_the_study_runs_each_model_with_its_chosen_setting():
    study = argparse.Namespace(seeds=3, epochs=1, threads=1, device="cpu")
    chosen = make_config(study, "mmsasrec").model.params
    assert (chosen["content"], chosen["prior_weight"]) == ("prior", 0.03)
    assert chosen["window_stride"] == 25


def test_the_speed_table_says_how_each_model_reads_its_windows():
    from bench_sequential import windows_read

    text = windows_read()
    for model in ("gru4rec", "sasrec"):  # both overlap their windows, chosen on validation
        assert f"{model}: 50-item windows every 25 items, each scoring its last 25" in text


def test_the_sparse_catalogue_scores_mm_sasrec_with_the_setting_probed_there():
    study = argparse.Namespace(seeds=3, epochs=1, threads=1, device="cpu",
                               dataset="movielens-latest-small-mm")  # fmt: skip
    mm = make_config(study, "mmsasrec").model.params
    assert "content" not in mm and "window_stride" not in mm  # gated, as probed there
    assert make_config(study, "sasrec").model.params["window_stride"] == 25
    assert make_config(study, "sasrec").dataset.name == "movielens-latest-small-mm"
    # GRU4Rec waits out the sparse catalogue's early validation dip; the others keep 10
    assert make_config(study, "gru4rec").train.patience == 30
    assert make_config(study, "sasrec").train.patience == 10


def test_the_header_names_each_model_s_own_patience():
    from bench_sequential import SPARSE_MODELS, patience_of

    assert patience_of(SPARSE_MODELS, ["sasrec", "gru4rec"]) == "10 (gru4rec 30)"
    assert patience_of(SPARSE_MODELS, ["sasrec", "mmsasrec"]) == "10"


def test_the_sparse_study_is_the_masked_table_alone():
    from bench_sequential import units

    dense = argparse.Namespace(dataset="movielens-100k-mm", skip_recbole=False, seeds=3,
                               recbole_seeds=None)  # fmt: skip
    sparse = argparse.Namespace(**{**vars(dense), "dataset": "movielens-latest-small-mm"})
    assert "unmasked/sasrec" in units(dense, ["sasrec", "mmsasrec"])
    # cold items are bench_cold_start.py's, beside the other content-aware models
    assert not any(u.startswith("cold-items") for u in units(dense, ["sasrec", "mmsasrec"]))
    assert units(sparse, ["sasrec", "mmsasrec"]) == ["masked/sasrec", "masked/mmsasrec"]
    # with --trials each sequential model's search is its unit; LightGCN keeps its fixed run
    searched = argparse.Namespace(**{**vars(dense), "trials": 20})
    got = units(searched, ["lightgcn", "sasrec", "mmsasrec"])
    assert got[:3] == ["masked/lightgcn", "tuned/sasrec", "tuned/mmsasrec"]
    # without RecBole the unmasked runs would compare with nothing: the masked table alone
    alone = argparse.Namespace(**{**vars(searched), "skip_recbole": True})
    assert units(alone, ["lightgcn", "sasrec"]) == ["masked/lightgcn", "tuned/sasrec"]
    # --recbole-only: the side-by-side table's units alone
    side = argparse.Namespace(**{**vars(dense), "recbole_only": True})
    assert units(side, ["lightgcn", "sasrec", "mmsasrec"]) == [
        "unmasked/sasrec", "recbole/sasrec/1", "recbole/sasrec/2", "recbole/sasrec/3"
    ]  # fmt: skip


def test_the_popularity_rows_pair_each_user_with_the_bucket_of_the_item_held_out():
    import numpy as np

    from bench_sequential import bucket_rows

    groups = {"rare": np.array([1, 1, 0, 0], np.float32), "popular": np.array([0, 0, 1, 1])}
    held = np.array([0, 1, 2, 3, 3])  # user u held out item held[u]
    mine = np.array([0.5, 0.3, 0.1, 0.2, 0.0])
    base = np.array([0.1, 0.1, 0.1, 0.4, 0.0])
    rare, popular = bucket_rows(mine, base, held, groups)
    assert rare.startswith("| rare | 2 | 0.1000 | 0.4000 | +0.3000 (")
    assert popular.startswith("| popular | 3 | 0.1667 | 0.1000 | -0.0667 (")
    (empty,) = bucket_rows(mine, base, held, {"cold": np.zeros(4)})
    assert empty == "| cold | 0 | | | |"


def test_the_header_names_the_seeds_that_ran_into_the_epoch_cap():
    from bench_sequential import epoch_cap_line

    stopped, capped = _row([0.05], 1.0, CPU), _row([0.04, 0.05], 1.0, CPU)
    stopped["capped"], capped["capped"] = [], [(3, 184)]
    line = epoch_cap_line({"sasrec": stopped, "gru4rec": capped, "lightgcn": None}, 200)
    assert line.startswith("- ran all 200 epochs")
    assert line.endswith(": gru4rec seed 3 (best epoch 184)")
    assert "early" in epoch_cap_line({"sasrec": stopped}, 200)
    assert "ran all" not in epoch_cap_line({"sasrec": stopped}, 200)


def test_a_row_read_back_with_one_seed_is_not_said_to_beat(tmp_path, monkeypatch):
    """The one-seed guard reads the rows' own seed counts (a collected row may have fewer
    seeds than the command asks for), not the command line's."""
    import bench_sequential

    monkeypatch.setattr(bench_sequential, "paired_over_users", lambda *a: ([], 0.01))  # no runs
    main = {"mmsasrec": _row([0.13], 1.0, CPU), "sasrec": _row([0.11, 0.112, 0.108], 1.0, CPU)}
    args = argparse.Namespace(recbole_epochs=None, epochs=200, seeds=3, runs=tmp_path)
    line = verdict(main, {}, args)[0]
    assert "cannot be said to beat (one seed: no spread measured)" in line


def test_a_collected_run_must_have_the_settings_the_study_gives_its_row(tmp_path):
    """``--collect`` reads finished runs back; one trained with another setting (GRU4Rec
    before its overlapping windows were chosen) is refused, not tabulated as the study's.
    Where it ran (device, threads) may differ."""
    import json

    import yaml

    from bench_sequential import results_of
    from fusionrec.config import dump_config

    study = argparse.Namespace(seeds=3, epochs=200, threads=1, device="cpu")
    cfg = make_config(study, "gru4rec")
    saved = yaml.safe_load(dump_config(cfg))
    saved["train"].update(device="cuda", threads=2)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(saved))
    (tmp_path / "results.json").write_text(json.dumps({"per_seed": []}))
    assert results_of(cfg, tmp_path, None, collect=True) == {"per_seed": []}
    del saved["dataset"]["sep"]  # an option added after the run, unset: the same run
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(saved))
    assert results_of(cfg, tmp_path, None, collect=True) == {"per_seed": []}
    saved["model"]["params"]["window_stride"] = None
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(saved))
    with pytest.raises(SystemExit, match="model.params.window_stride: None \\(saved\\) != 25"):
        results_of(cfg, tmp_path, None, collect=True)


def test_mm_sasrec_beats_sasrec_only_with_the_paired_interval_above_zero(monkeypatch):
    import bench_sequential

    main = {"mmsasrec": _row([0.13, 0.131, 0.129], 1.0, CPU), "sasrec": _row([0.11] * 3, 1.0, CPU)}
    args = argparse.Namespace(recbole_epochs=None, epochs=200, seeds=3, runs=Path("."))
    for low, word in ((0.002, "- mmsasrec beats"), (-0.001, "- mmsasrec does NOT clearly beat")):
        monkeypatch.setattr(bench_sequential, "paired_over_users", lambda *a, x=low: ([], x))
        assert verdict(main, {}, args)[0].startswith(word)


def test_searched_rows_say_their_budget_and_choice(tmp_path):
    from bench_sequential import tuned_lines

    args = argparse.Namespace(trials=20, runs=tmp_path)
    rows = {
        "sasrec": {**_row([0.1] * 3, 1.0, CPU), "trials": 20, "chosen": {"train.lr": 0.001}},
        "mmsasrec": {**_row([0.1] * 3, 1.0, CPU), "trials": 12, "chosen": {}},
        "lightgcn": _row([0.07] * 3, 1.0, CPU),
    }
    (line,) = tuned_lines(rows, args)
    assert "sasrec 20 trials, chose {'train.lr': 0.001}" in line
    assert "mmsasrec 12 trials" in line and "lightgcn" not in line  # an unequal budget shows
    assert tuned_lines(rows, argparse.Namespace(trials=0)) == []
    (tmp_path / "tuned" / "sasrec").mkdir(parents=True)  # a search resumed under other code
    trials = [{"trial": 0, "code": "0.1.0+aaa"}, {"trial": 1, "code": "0.1.0+bbb"}]
    (tmp_path / "tuned" / "sasrec" / "trials.json").write_text(json.dumps(trials))
    assert "sasrec (trials 0: 0.1.0+aaa; trials 1: 0.1.0+bbb)" in tuned_lines(rows, args)[1]


def test_the_header_names_a_fixed_window_stride_only_for_rows_not_searched():
    from bench_sequential import MODELS, stride_clause

    fixed = argparse.Namespace(trials=0, window_stride=None)
    assert "sasrec 25" in stride_clause(fixed, MODELS, ["lightgcn", "sasrec"])
    searched = argparse.Namespace(trials=20, window_stride=None)
    assert stride_clause(searched, MODELS, ["lightgcn", "sasrec", "mmsasrec"]) == ""
    forced = argparse.Namespace(trials=20, window_stride=10)
    assert "window_stride 10" in stride_clause(forced, MODELS, ["sasrec"])


def test_fusionrec_and_recbole_are_paired_user_by_user_over_their_seeds(monkeypatch):
    """RecBole's seeds list their users in their own order; each user's score is averaged
    over the seeds and paired with the same user's fusionrec score, not with a position."""
    import paired
    from bench_sequential import paired_with_recbole, seed_mean_per_user

    seed1 = {"users": [3, 1, 2], "ndcg@10": [0.0, 1.0, 0.5]}
    seed2 = {"users": [1, 2, 3], "ndcg@10": [0.0, 0.5, 1.0]}
    recbole = {"per_user": seed_mean_per_user([seed1, seed2])}
    assert recbole["per_user"] == {"users": [1, 2, 3], "ndcg@10": [0.5, 0.5, 0.5]}
    assert seed_mean_per_user([seed1, None]) is None  # a seed run before they were kept
    ours = {"users": [2, 3, 1], "ndcg@10": [0.6, 0.7, 0.8]}
    monkeypatch.setattr(paired, "per_user_test", lambda run, metrics: ours)
    (line,) = paired_with_recbole(Path("runs"), "sasrec", recbole)
    assert "paired over the 3 test users" in line
    assert "fusionrec minus RecBole +0.2000" in line and "better for 3 users, worse for 0" in line
    ours["users"] = [2, 3, 4]
    with pytest.raises(ValueError, match="scored different test users"):
        paired_with_recbole(Path("runs"), "sasrec", recbole)


def test_side_by_side_batches_take_as_many_steps_an_epoch_as_recbole(monkeypatch):
    """fusionrec's batch counts windows; beside RecBole it holds as many targets as RecBole's
    2048 examples, so both sides take the same number of optimiser steps an epoch."""
    import types

    import numpy as np

    import bench_sequential
    from fusionrec.data.sequences import Sequences

    rng = np.random.default_rng(0)
    lengths = rng.integers(20, 700, size=943)  # movielens-like histories
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    sequences = Sequences(indptr, rng.integers(0, 1682, size=indptr[-1]))
    monkeypatch.setattr(
        bench_sequential, "train_data", lambda *a: types.SimpleNamespace(sequences=sequences)
    )
    study = argparse.Namespace(seeds=3, epochs=200, threads=1, device="cpu")
    targets = len(sequences.trainable_positions())
    recbole_steps = -(-targets // 2048)
    for model in ("sasrec", "gru4rec"):
        cfg = bench_sequential.side_by_side_config(study, model, None)
        assert cfg.evaluate.repeat  # RecBole's sequential ranking masks nothing
        windows = len(sequences.window_ends(cfg.model.params["window_stride"]))
        steps = -(-windows // cfg.train.batch_size)
        assert abs(steps - recbole_steps) <= 1, (steps, recbole_steps)
        assert cfg.train.batch_size != make_config(study, model).train.batch_size
        masked = make_config(study, model).model.params
        side = bench_sequential.SIDE_MODELS.get(model, masked)
        assert cfg.model.params == {**masked, **side}  # the side-by-side's own choices
    assert bench_sequential.side_differences() == "sasrec block=bert"
