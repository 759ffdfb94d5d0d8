"""What every results file owes its reader (``benchmarks/common.py``): the search space each
model's search really used, so a space moved after a study never reads as the one that study
searched, and the provenance of the raw JSON beside a table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from fusionrec.train.tune import shipped_space

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from common import space_note, versions_note, write_json_result  # noqa: E402


def _searched(runs: Path, model: str, space: dict) -> None:
    (runs / model).mkdir(parents=True)
    saved = {"model": {"name": model}, "search": {"n_trials": 20, "space": space}}
    (runs / model / "search_config.yaml").write_text(yaml.safe_dump(saved))


def test_a_search_over_the_shipped_space_is_not_flagged(tmp_path):
    modalities = {"type": "categorical", "choices": [["text"], ["image"], ["text", "image"]]}
    _searched(tmp_path, "mgcn", {**shipped_space("mgcn"), "features.modalities": modalities})
    (tmp_path / "lightgcn").mkdir()  # tuned before the searched config was saved
    assert space_note(tmp_path, ["mgcn", "lightgcn", "most-popular"]) == (
        "- search spaces: every model searched the space it ships now"
    )


def test_a_moved_range_and_a_dropped_key_are_named(tmp_path):
    space = shipped_space("diffmm")
    space["model.params.reg_weight"] = {"type": "float", "low": 1e-6, "high": 0.1, "log": True}
    del space["model.params.cl_weight"]
    _searched(tmp_path, "diffmm", space)
    _searched(tmp_path, "mf-bpr", shipped_space("mf-bpr"))
    shipped = shipped_space("diffmm")["model.params.reg_weight"]
    note = space_note(tmp_path, ["diffmm", "mf-bpr"])
    assert note.startswith("- search spaces that moved after this study searched them: diffmm")
    assert (
        f"model.params.reg_weight 1e-06..0.1 (ships {shipped['low']:g}..{shipped['high']:g})"
        in note
    )
    assert "model.params.cl_weight: not searched" in note
    assert "mf-bpr" not in note


def test_raw_numbers_carry_the_commit_date_and_command(tmp_path):
    path = write_json_result(tmp_path / "x.json", {"recall": np.float32(0.25), "run": tmp_path})
    data = json.loads(path.read_text())
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True
    ).stdout.strip()
    assert data["commit"] == head and isinstance(data["dirty"], bool)
    assert data["recall"] == 0.25 and data["run"] == str(tmp_path)
    assert data["command"].startswith("python ") and data["date"].endswith("UTC")


def test_a_file_git_does_not_know_under_src_makes_the_tree_dirty(monkeypatch):
    """New code or a probe record a report reads is not in the commit a header names."""
    import common

    answers = {"rev-parse": "abc", "status": "", "ls-files": ""}
    monkeypatch.setattr(common, "_git", lambda cmd, *args: answers[cmd])
    assert common.provenance() == {"commit": "abc", "dirty": False}
    answers["ls-files"] = "src/fusionrec/models/new_model.py"
    assert common.provenance()["dirty"] is True


def test_a_results_file_is_written_only_from_the_clean_tree_the_run_started_at(
    tmp_path, monkeypatch
):
    import common

    results = tmp_path / "results"
    monkeypatch.setattr(common, "RESULTS", results)
    state = {"commit": common.START_COMMIT, "dirty": True}
    monkeypatch.setattr(common, "provenance", lambda: dict(state))
    with pytest.raises(SystemExit, match="uncommitted changes.*commit first"):
        common.write_result(results / "x.md", "table")
    assert not (results / "x.md").exists()
    common.write_result(tmp_path / "elsewhere.md", "table")  # --out elsewhere: allowed
    state.update(dirty=False, commit="0" * 40)
    with pytest.raises(SystemExit, match="HEAD moved from"):
        common.write_result(results / "x.md", "table")
    state["commit"] = common.START_COMMIT
    assert common.write_result(results / "x.md", "table").read_text() == "table\n"


def test_the_same_budget_is_read_from_the_rows_not_assumed():
    from common import budget_note

    assert budget_note({"lightgcn": 20, "most-popular": 0}, 20).endswith("had 20 trials")
    line = budget_note({"lightgcn": 20, "mgcn": 5, "most-popular": 0}, 20)
    assert line == "- WARNING: rows tuned with another trial budget than 20: mgcn 5"


def test_without_a_git_program_the_commit_is_read_from_dot_git(monkeypatch):
    """A GPU machine running a copy of the checkout may have no ``git``: the commit still comes
    from ``.git`` and the tree state is said to be unchecked, not claimed clean."""
    import common

    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True
    ).stdout.strip()
    real_run = subprocess.run

    def no_git(cmd, *args, **kwargs):
        if cmd[0] == "git":
            raise FileNotFoundError("git")
        return real_run(cmd, *args, **kwargs)

    monkeypatch.setattr(common.subprocess, "run", no_git)
    assert common.provenance() == {"commit": head, "dirty": None}
    assert f"- commit: {head} (tree not checked: no git program" in common.header("t")


def test_defaults_read_a_choice_from_a_results_table_where_the_runs_are_gone(tmp_path):
    """bench_defaults' dense candidate when the dense study's runs folder is lost: the setting
    its results table records, keys mapped back to config paths, values to numbers."""
    from bench_defaults import table_setting

    table = tmp_path / "t.md"
    table.write_text(
        "# title\n\n| model | kind | trials | chosen setting | valid recall@20 |\n"
        "|---|---|---|---|---|\n"
        "| most-popular | ids | 0 | defaults | 0.1 |\n"
        "| diffmm | multimodal | 20 | lr=0.00595, reg_weight=1e-06, n_layers=2 | 0.35 |\n"
        "| content-knn | multimodal | 20 | center=True | 0.08 |\n"
        "| cold-transfer | multimodal | 20 | lr=0.005, reg_weight=0.0004, n_layers=3, k=151 "
        "| 0.3 |\n"
    )
    assert table_setting(table, "diffmm") == {
        "train.lr": 0.00595,
        "model.params.reg_weight": 1e-06,  # no dot: YAML would have read a string
        "model.params.n_layers": 2,
    }
    assert table_setting(table, "content-knn") == {"model.params.center": True}
    # a wrapped model's base parameters go back under base_params, its own stay at the top
    assert table_setting(table, "cold-transfer") == {
        "train.lr": 0.005,
        "model.params.base_params.reg_weight": 0.0004,
        "model.params.base_params.n_layers": 3,
        "model.params.k": 151,
    }
    assert table_setting(table, "most-popular") is None and table_setting(table, "mgcn") is None


def _git(*args: str) -> str:
    root = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    except FileNotFoundError:
        pytest.skip("no git program")
    if out.returncode != 0:
        pytest.skip(f"git {' '.join(args)}: {out.stderr.strip()}")
    return out.stdout.strip()


def test_rows_from_several_commits_say_what_differs_under_src():
    head = _git("rev-parse", "HEAD")
    first = _git("rev-list", "--max-parents=0", "HEAD").split()[0]
    assert versions_note({head}) is None
    changed = _git("diff", "--name-only", first, head, "--", "src/").split()
    if not changed:
        pytest.skip("this history has no change under src/")
    note = versions_note({head, first})
    assert note.startswith("- WARNING: rows come from different code versions")
    assert f"src/ differs between them in {changed[0]}" in note  # sorted: the first file
    assert "not compared" in versions_note({head, first + "+dirty"})


def test_defaults_cache_one_run_whether_its_parameters_are_spelled_out_or_left_implicit():
    """Once a preset replaces a model's paper defaults, bench_defaults asks for them in full
    ("schema defaults"); the run cached before, as "current defaults" with no params, is the
    same run and must not train again."""
    from bench_defaults import base_config, run_key, schema_defaults, with_setting
    from fusionrec.config import dump_config

    base = base_config("dense", "mf-bpr", threads=1)  # mf-bpr's preset sets lr and a param
    implicit = base.model_copy(
        update={
            "model": base.model.model_copy(update={"params": {}}),
            "train": base.train.model_copy(update={"lr": 1e-3}),
        }
    )
    spelled = with_setting(base_config("dense", "mf-bpr", threads=1), schema_defaults("mf-bpr"))
    assert dump_config(implicit) != dump_config(spelled)  # the old key told them apart
    assert run_key(implicit) == run_key(spelled) == run_key(dump_config(implicit))
    changed = with_setting(spelled, {"model.params.reg_weight": 0.5})
    assert run_key(changed) != run_key(spelled)


def test_a_defaults_candidate_cut_short_continues_from_its_last_checkpoint(
    tmp_path, monkeypatch, data_root
):
    """A candidate run of bench_defaults can take hours (a sparse-set run of a slow model)
    and a session may end inside it: run again, it goes on from its last epoch, and once
    cached its weights are not kept."""
    import argparse

    import bench_defaults
    from fusionrec.train.trainer import Trainer

    study = tmp_path / "study.yaml"
    study.write_text(
        yaml.safe_dump(
            {
                "dataset": {"name": "movielens-100k-mm"},
                "split": {"method": "random"},
                "seeds": [1],
                # a checkpoint after every epoch, however quick
                "train": {
                    "epochs": 4,
                    "lr": 0.001,
                    "batch_size": 4096,
                    "patience": 20,
                    "checkpoint_seconds": 0,
                },  # fmt: skip
                "evaluate": {"ks": [20]},
            }
        )
    )
    monkeypatch.setitem(bench_defaults.STUDIES, "dense", study)
    monkeypatch.setattr(bench_defaults, "PREPARED", {})
    args = argparse.Namespace(threads=1, epochs=0, runs=tmp_path / "runs")
    trained, real = [], Trainer.train_epoch

    def session_ends_at_epoch_3(self, epoch):
        if epoch == 3 and not trained.count(3):
            trained.append(3)
            raise RuntimeError("the session ended")
        trained.append(epoch)
        return real(self, epoch)

    monkeypatch.setattr(Trainer, "train_epoch", session_ends_at_epoch_3)
    with pytest.raises(RuntimeError, match="session ended"):
        bench_defaults.validate_candidate("mf-bpr", "dense", {}, args)
    done = bench_defaults.validate_candidate("mf-bpr", "dense", {}, args)
    assert trained == [1, 2, 3, 3, 4]  # epochs 1-2 were not trained again
    assert done["epochs"] == 4 and 0 < done["valid"]["recall@20"] < 1
    folder = args.runs / "mf-bpr" / "dense"
    assert not list(folder.rglob("*.pt"))
    assert json.loads((folder / "candidates.json").read_text())
    again = bench_defaults.validate_candidate("mf-bpr", "dense", {}, args)
    assert again == done and trained == [1, 2, 3, 3, 4]  # read from the cache


def test_a_cached_recbole_run_with_other_settings_trains_again_or_is_refused(tmp_path):
    """RecBole's cache file names hold model, seed and epochs only; the settings it records
    decide whether it is the study's run."""
    from recbole_runner import drop_stale

    path = tmp_path / "SASRec-seed1-epochs200.json"
    settings = {"patience": 10, "params": {"n_layers": 2}}
    path.write_text(json.dumps({"seed": 1}))  # cached before settings were recorded: kept
    drop_stale(path, settings, may_train=True)
    assert path.exists()
    path.write_text(json.dumps({"seed": 1, "settings": settings}))
    drop_stale(path, settings, may_train=False)
    assert path.exists()
    path.write_text(json.dumps({"seed": 1, "settings": {**settings, "patience": 20}}))
    with pytest.raises(SystemExit, match="other settings"):
        drop_stale(path, settings, may_train=False)  # collecting: refused, kept
    assert path.exists()
    drop_stale(path, settings, may_train=True)  # training: removed, so it trains again
    assert not path.exists()


def test_vbpr_cornac_runs_are_cached_for_the_commit_they_ran_at(tmp_path, monkeypatch):
    """bench_vbpr_cornac trains its hour of searches once (on a busy machine if need be) and
    times later on a quiet one; a cached run of other code is trained again, not mixed in."""
    import bench_vbpr_cornac

    trained = []

    def fit():
        trained.append(1)
        return {"valid": {"recall@20": 0.25}}

    cache = bench_vbpr_cornac.FitCache(tmp_path)
    assert cache.get("cornac lr=0.001 epochs=20", fit) == {"valid": {"recall@20": 0.25}}
    cache.get("cornac lr=0.001 epochs=20", fit)
    bench_vbpr_cornac.FitCache(tmp_path).get("cornac lr=0.001 epochs=20", fit)
    assert len(trained) == 1  # read back, in this process and the next
    monkeypatch.setattr(bench_vbpr_cornac, "head_commit", lambda: "another commit")
    bench_vbpr_cornac.FitCache(tmp_path).get("cornac lr=0.001 epochs=20", fit)
    assert len(trained) == 2


def test_a_search_that_ran_under_two_code_versions_is_flagged(tmp_path):
    """Each trial records the code that ran it; a results table says when one model's
    search mixed code versions (resumed after a change), and says nothing otherwise."""
    from common import trial_code_note

    def trials(model: str, codes: list[str | None]) -> Path:
        folder = tmp_path / model
        folder.mkdir()
        records = [{"trial": i, **({"code": c} if c else {})} for i, c in enumerate(codes)]
        (folder / "trials.json").write_text(json.dumps(records))
        return folder

    one = trials("mf-bpr", ["0.1.0+aaa"] * 3)
    assert trial_code_note({"mf-bpr": one}) is None
    mixed = trials("mentor", [None, None, "0.1.0+aaa", "0.1.0+bbb", "0.1.0+bbb"])
    note = trial_code_note({"mf-bpr": one, "mentor": mixed})
    assert note.startswith("- WARNING: searches that ran under more than one code version")
    assert (
        "mentor (trials 0-1: code not recorded; trials 2: 0.1.0+aaa; trials 3-4: 0.1.0+bbb)" in note
    )
    assert "mf-bpr" not in note
