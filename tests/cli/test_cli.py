from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml
from typer.testing import CliRunner

import fusionrec
from console import cli
from eval_spy import spy_on_evaluations
from fusionrec.cli import app
from fusionrec.config import load_config
from fusionrec.data.split import TEST, VALID
from fusionrec.train.experiment import prepare
from toy_data import toy_config, write_toy_dataset

runner = CliRunner()


def invoke(*args: str):
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.parametrize("command", [[], ["data"], ["train"], ["demo"], ["evaluate"], ["tune"]])
def test_help_everywhere(command):
    out = invoke(*command, "--help").output
    assert "Usage" in out


def test_train_writes_a_complete_run_and_evaluate_rescores_it(tmp_path):
    cfg = toy_config(tmp_path)
    invoke("train", "-c", str(cfg), "train.epochs=4", "--seeds", "1,2", "--quiet")
    run = tmp_path / "runs" / "toy-mf-bpr"
    for name in (
        "config.yaml",
        "split.parquet",
        "manifest.json",
        "results.json",
        "seed-1/best.pt",
        "seed-2/metrics.json",
        "seed-1/item_embeddings.npy",
        "seed-1/train.log",
    ):
        assert (run / name).exists(), name
    results = json.loads((run / "results.json").read_text())
    assert results["seeds"] == [1, 2] and set(results["test"]["recall@10"]) == {"mean", "std"}
    assert "recall@20" not in results["test"]  # test uses the config's ks (5, 10) only
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["epochs"] == 4
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["split"]["counts"]["train"] > 0 and "seed-1/best.pt" in manifest["files"]
    rescored = invoke("evaluate", str(run)).output
    seed1 = results["per_seed"][0]["test"]["recall@10"]
    assert f"{seed1:.4f}" in rescored


def test_train_and_tune_take_the_dataset_as_other_commands_do(tmp_path):
    """``-d PATH`` replaces the config's data (the run is named after the file), with no
    config file at all for ``tune``: the model's own search space is used."""
    data = write_toy_dataset(tmp_path / "data")
    common = [f"output_dir={tmp_path / 'runs'}", "train.epochs=2", "evaluate.ks=[5,10]"]
    invoke("train", "-d", str(data), "model.name=mf-bpr", *common, "--quiet")
    runs = tmp_path / "runs"
    config = yaml.safe_load((runs / "interactions-mf-bpr" / "config.yaml").read_text())
    assert config["dataset"] | {"name": "interactions", "path": str(data)} == config["dataset"]
    invoke("tune", "-d", str(data), "model.name=lightgcn", "search.n_trials=2", *common)
    summary = json.loads((runs / "interactions-lightgcn-tune" / "tune.json").read_text())
    assert len(summary["trials"]) == 2 and "model.params.n_layers" in summary["best_params"]


def test_tune_lists_the_trials_the_pruner_stopped(tmp_path, capsys, monkeypatch):
    data = write_toy_dataset(tmp_path / "data")
    args = [f"output_dir={tmp_path / 'runs'}", "train.epochs=5", "evaluate.ks=[5,10]"]
    args += ["model.name=mf-bpr", "search.n_trials=8", "search.pruner=median"]
    args += ["search.prune_after_trials=2", "search.prune_after_epochs=1"]
    args += ['search.space={"train.lr": {type: float, low: 1.0e-5, high: 0.1, log: true}}']
    code, out = cli(capsys, monkeypatch, "tune", "-d", str(data), *args)
    assert code == 0, out
    summary = json.loads((tmp_path / "runs" / "interactions-mf-bpr-tune" / "tune.json").read_text())
    stopped = [t for t in summary["trials"] if t.get("pruned")]
    assert stopped
    for t in stopped:
        assert f"trial {t['trial']} (stopped at epoch {t['epochs']})" in out


def test_compare_pairs_two_runs_over_the_same_test_users(tmp_path):
    """``fusionrec compare``: the difference of the two runs' recorded test means, with its
    interval; runs on another split are refused, naming what to do."""
    runs = tmp_path / "runs"
    for model in ("mf-bpr", "lightgcn"):
        cfg = toy_config(tmp_path, model=model, evaluate={"ks": [10, 20]})
        invoke("train", "-c", str(cfg), "train.epochs=3", "--seeds", "1,2", "--quiet")
    out = invoke("compare", str(runs / "toy-lightgcn"), str(runs / "toy-mf-bpr")).output
    mean = {}
    for model in ("mf-bpr", "lightgcn"):
        results = json.loads((runs / f"toy-{model}" / "results.json").read_text())
        mean[model] = results["test"]["recall@20"]["mean"]
    row = next(line for line in out.splitlines() if "recall@20" in line)
    assert f"{mean['lightgcn'] - mean['mf-bpr']:+.4f}" in row
    assert f"{mean['lightgcn']:.4f}" in row and f"{mean['mf-bpr']:.4f}" in row
    table = fusionrec.compare(runs / "toy-lightgcn", runs / "toy-mf-bpr", ["recall@20"])
    (r,) = table.itertuples()  # the Python API the command prints
    one = fusionrec.compare(runs / "toy-lightgcn", runs / "toy-mf-bpr", "recall@20")
    assert one["metric"].tolist() == ["recall@20"]  # one name is one metric, not its letters
    assert r.difference == pytest.approx(mean["lightgcn"] - mean["mf-bpr"], abs=1e-6)
    assert r.ci_low < r.difference < r.ci_high and r.a_seeds == r.b_seeds == 2
    cfg = toy_config(tmp_path, model="mf-bpr", evaluate={"ks": [10, 20]})
    other = ["train", "-c", str(cfg), "train.epochs=1", "split.seed=99", "--quiet"]
    invoke(*other, "--run-dir", str(runs / "other-split"))
    result = runner.invoke(app, ["compare", str(runs / "toy-lightgcn"), str(runs / "other-split")])
    assert result.exit_code != 0 and "same split" in str(result.exception)
    assert "split.parquet" in str(result.exception)
    # the same test interactions, but more of the rest in validation: not the same experiment
    other = ["train", "-c", str(cfg), "train.epochs=1", "split.ratios=[0.7,0.2,0.1]", "--quiet"]
    invoke(*other, "--run-dir", str(runs / "less-training"))
    result = runner.invoke(app, ["compare", str(runs / "toy-mf-bpr"), str(runs / "less-training")])
    assert result.exit_code != 0 and "same split" in str(result.exception)
    result = runner.invoke(app, ["compare", str(runs / "toy-lightgcn"), str(tmp_path / "nope")])
    assert "nope is not a run directory" in str(result.exception)
    # the same split, scored without masks (repeat consumption): another task, said and refused
    unmasked = ["train", "-c", str(cfg), "train.epochs=1", "evaluate.repeat=true", "--quiet"]
    out = invoke(*unmasked, "--run-dir", str(runs / "repeat")).output
    assert "nothing masked (evaluate.repeat)" in " ".join(out.split())
    assert json.loads((runs / "repeat" / "results.json").read_text())["repeat"] is True
    result = runner.invoke(app, ["compare", str(runs / "toy-mf-bpr"), str(runs / "repeat")])
    assert result.exit_code != 0 and "evaluate.repeat" in str(result.exception)


def test_compare_refuses_runs_that_ranked_other_items(tmp_path):
    """A cold-items split ranks only its withheld items; the same labels read as a predefined
    split rank the whole catalogue: equal labels, another experiment."""
    import pandas as pd

    runs = tmp_path / "runs"
    cfg = toy_config(
        tmp_path,
        model="most-popular",
        split={"method": "cold-items", "cold_fraction": 0.5},
        train={"metric": "recall@5"},
    )
    invoke("train", "-c", str(cfg), "--run-dir", str(runs / "cold"), "--quiet")
    labels = pd.read_parquet(runs / "cold" / "split.parquet")
    names = {"user_id": "userID", "item_id": "itemID", "label": "x_label"}
    labels.rename(columns=names).to_csv(tmp_path / "labels.inter", sep="\t", index=False)
    same_labels = ["split.method=predefined", f"split.path={tmp_path / 'labels.inter'}"]
    invoke("train", "-c", str(cfg), *same_labels, "--run-dir", str(runs / "full"), "--quiet")
    pair = ["compare", str(runs / "cold"), str(runs / "full"), "--metrics", "recall@5"]
    result = runner.invoke(app, pair)
    assert result.exit_code != 0 and "ranked items" in str(result.exception)
    result = runner.invoke(
        app, ["compare", str(runs / "cold"), str(runs / "cold"), "--metrics", ","]
    )
    assert result.exit_code == 2 and "names no metric" in " ".join(result.output.split())
    # the split copied without its split.json: said, not a FileNotFoundError
    (runs / "copied").mkdir()
    (runs / "copied" / "split.parquet").write_bytes((runs / "cold" / "split.parquet").read_bytes())
    result = runner.invoke(app, ["train", "-c", str(cfg), "--run-dir", str(runs / "copied")])
    assert "copy split.json together with split.parquet" in str(result.exception)


def test_data_inspect_and_split(tmp_path):
    cfg = toy_config(tmp_path)
    out = invoke("data", "inspect", "-c", str(cfg)).output
    assert "interactions" in out and "600" in out and "density" in out
    out = invoke(
        "data", "split", "-c", str(cfg), "-o", str(tmp_path / "s"), "split.method=leave-one-out"
    ).output
    assert "valid 60" in out and (tmp_path / "s" / "split.parquet").exists()
    (tmp_path / "a-file").write_text("")
    for target in ("a-file", "a-file/sub"):  # said before any data is read, in one line
        result = runner.invoke(app, ["data", "split", "-c", str(cfg), "-o", str(tmp_path / target)])
        assert "cannot write to the split folder" in str(result.exception)


def test_data_inspect_says_how_concentrated_the_interactions_are(tmp_path):
    """Items a, b, c, d rated by 6, 3, 1 and 0 users: a and b hold 9 of 10 ratings (the head
    reaches 80% at b); Gini of [0, 1, 3, 6] = (-3*0 - 1*1 + 1*3 + 3*6) / (4 * 10) = 0.5."""
    rows = [(f"u{u}", "a") for u in range(6)] + [(f"u{u}", "b") for u in range(3)] + [("u0", "c")]
    (tmp_path / "r.csv").write_text("user_id,item_id\n" + "".join(f"{u},{i}\n" for u, i in rows))
    (tmp_path / "items.csv").write_text("item_id,title\na,A\nb,B\nc,C\nd,D\n")
    out = invoke(
        "data", "inspect", str(tmp_path / "r.csv"), f"dataset.items_path={tmp_path / 'items.csv'}"
    ).output
    line = " ".join(out.replace("│", " ").split())
    assert "Gini 0.50; the 2 most-interacted items (50.0%) hold 80% of interactions; " in line
    assert "1 item has none (25.0%)" in line


def test_bad_config_key_is_named(tmp_path):
    cfg = toy_config(tmp_path)
    result = runner.invoke(app, ["train", "-c", str(cfg), "train.learning_rate=0.1"])
    assert result.exit_code != 0
    assert "train.learning_rate" in str(result.exception)


def test_console_script_reports_errors_cleanly(tmp_path):
    exe = [sys.executable, "-c", "from fusionrec.cli import main; main()"]
    proc = subprocess.run(
        [*exe, "data", "inspect", "-d", str(tmp_path / "missing")], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "error:" in proc.stderr and "Traceback" not in proc.stderr


def test_console_script_shows_usage_for_an_unknown_option():
    exe = [sys.executable, "-c", "from fusionrec.cli import main; main()"]
    proc = subprocess.run([*exe, "train", "--no-such-flag"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "No such option" in proc.stderr and "Traceback" not in proc.stderr


def test_tune_selects_on_validation_and_tests_once(tmp_path):
    """Watches every evaluation: test is scored once, after the search, for a model whose
    validation score is the best any trial reached."""
    search = {
        "n_trials": 3,
        "space": {"train.lr": {"type": "float", "low": 1e-3, "high": 5e-2, "log": True}},
    }
    cfg = toy_config(tmp_path, search=search)
    with spy_on_evaluations() as spy:
        invoke("tune", "-c", str(cfg), "train.epochs=3")
    out = tmp_path / "runs" / "toy-mf-bpr-tune"
    prep = prepare(load_config(out / "best" / "config.yaml"), out, progress=False)
    (tested,) = spy.on(prep.split.matrix(prep.dataset, TEST))
    assert spy.calls[-1] is tested  # after every trial's validation
    valid = spy.on(prep.split.matrix(prep.dataset, VALID))
    assert len(valid) == len(spy.calls) - 1
    best_of: dict[int, float] = {}  # model -> its best validation recall@20 (kept weights)
    for call in valid:
        best_of[id(call.model)] = max(best_of.get(id(call.model), 0.0), call.metrics["recall@20"])
    final = best_of.pop(id(tested.model))
    assert len(best_of) == 3  # one model per trial, then the final one
    assert len(set(best_of.values())) > 1  # the trials differ, so choosing matters
    assert final == pytest.approx(max(best_of.values()))
    summary = json.loads((out / "tune.json").read_text())
    assert summary["test"]["recall@10"]["mean"] == pytest.approx(tested.metrics["recall@10"])
    best = max(summary["trials"], key=lambda t: t["valid_recall@20"])
    chosen = yaml.safe_load((out / "best_config.yaml").read_text())
    assert chosen["train"]["lr"] == pytest.approx(best["params"]["train.lr"])


def test_data_inspect_reports_feature_coverage(tmp_path):
    import pandas as pd

    cfg = toy_config(tmp_path)
    names = [f"item number {i} about topic {i % 5}" for i in range(40)]
    names[3] = ""
    items = tmp_path / "items.csv"
    pd.DataFrame({"item_id": [f"i{i}" for i in range(40)], "name": names}).to_csv(
        items, index=False
    )
    out = invoke(
        "data",
        "inspect",
        "-c",
        str(cfg),
        "--features",
        f"dataset.items_path={items}",
        "dataset.text_fields=[name]",
        "features.text.encoder=tfidf",
        "features.text.dim=8",
        f"features.cache_dir={tmp_path / 'cache'}",
    ).output
    assert "text features" in out and "39 / 40 items" in out


def test_tables_show_the_cut_offs_the_run_was_scored_at(tmp_path):
    cfg = toy_config(tmp_path)
    out = invoke("train", "-c", str(cfg), "train.epochs=1", "evaluate.ks=[3]",
                 "train.metric=recall@3", "--quiet").output  # fmt: skip
    assert "recall@3" in out and "ndcg@3" in out and "recall@10" not in out


def test_search_from_a_folder_without_an_index_says_so(tmp_path):
    result = runner.invoke(app, ["search", "robots", "--index", str(tmp_path / "none")])
    assert result.exit_code != 0 and "holds no saved index" in str(result.exception)


def test_metrics_option_picks_the_table_columns_and_is_checked_before_training(tmp_path):
    cfg = toy_config(tmp_path)
    out = invoke("train", "-c", str(cfg), "train.epochs=1", "--quiet",
                 "--metrics", "recall@5,novelty@10,diversity@10").output  # fmt: skip
    header = next(line for line in out.splitlines() if "model" in line)
    assert "novelty@10" in header and "diversity@10" in header and "ndcg" not in header
    run = tmp_path / "runs" / "toy-mf-bpr"
    test = json.loads((run / "seed-2026" / "metrics.json").read_text())["test"]
    test_row = next(line for line in out.splitlines() if "(test)" in line)
    assert f"{test['diversity@10']:.4f}" in test_row
    valid_row = next(line for line in out.splitlines() if "(valid)" in line)
    assert valid_row.rstrip(" │").endswith("-")  # diversity is read on test only
    rescored = invoke("evaluate", str(run), "--metrics", "novelty@10").output
    assert f"{test['novelty@10']:.4f}" in rescored
    for bad, said in (("recal@5", "did you mean 'recall'"), ("recall@20", "evaluate.ks: 5, 10")):
        result = runner.invoke(
            app, ["train", "-c", str(cfg), "--run-dir", str(tmp_path / "x"), "--metrics", bad]
        )
        assert result.exit_code != 0 and said in result.output
        assert not (tmp_path / "x").exists()  # refused before anything was written


def test_demo_refuses_a_metric_its_models_do_not_compute_before_training(tmp_path):
    result = runner.invoke(app, ["demo", "-o", str(tmp_path / "demo"), "--metrics", "recall@7"])
    assert result.exit_code != 0 and "evaluate.ks: 10, 20, 50" in result.output
    assert not (tmp_path / "demo").exists()


def test_lists_made_elsewhere_are_scored_as_the_runs_own(tmp_path):
    """A run's own top 10, written to a file and shuffled, scores as the run did on test;
    lists with a user left out and a training item listed say so."""
    import logging

    import pandas as pd

    from fusionrec.api import evaluate_lists

    cfg = toy_config(tmp_path)
    invoke("train", "-c", str(cfg), "train.epochs=2", "--quiet")
    run = tmp_path / "runs" / "toy-mf-bpr"
    top = tmp_path / "top.csv"
    invoke("recommend", str(run), "--all-users", "-k", "10", "-o", str(top))
    shuffled = pd.read_csv(top).sample(frac=1.0, random_state=0)
    shuffled.to_csv(top, index=False)
    test = json.loads((run / "seed-2026" / "metrics.json").read_text())["test"]
    scored = evaluate_lists(run, top)
    for name in ("recall@10", "ndcg@10", "map@5", "novelty@10", "diversity@10", "coverage@10"):
        assert scored[name] == pytest.approx(test[name], rel=1e-6), name
    out = invoke("evaluate", str(run), "--lists", str(top), "--metrics", "recall@10").output
    assert f"{test['recall@10']:.4f}" in out
    # without the rank column the score column orders the lists; one user dropped, and a
    # training item put first on another user's list
    from fusionrec.api import load

    rec = load(run)
    user = rec.user_ids[0]
    trained = rec.item_ids[rec.train_matrix[0].indices[0]]
    partial = shuffled.drop(columns="rank")
    partial = partial[partial["user_id"].astype(str) != str(rec.user_ids[1])]
    extra = pd.DataFrame({"user_id": [user], "item_id": [trained], "score": [1e9]})
    said: list[str] = []  # the CLI's logging setup replaced the root handlers caplog uses
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: said.append(record.getMessage())
    logging.getLogger("fusionrec").addHandler(handler)
    try:
        worse = evaluate_lists(run, pd.concat([partial, extra]))
    finally:
        logging.getLogger("fusionrec").removeHandler(handler)
    assert any("1 listed items are items their user is known to have" in m for m in said)
    assert any("have no list; they count as misses" in m for m in said)
    assert worse["recall@10"] <= scored["recall@10"]
    with pytest.raises(fusionrec.errors.DataError, match="unknown item ids: 'nope'"):
        evaluate_lists(run, pd.DataFrame({"user_id": [user], "item_id": ["nope"]}))
    # paired with the run over its users: its own lists are level with it on every user
    level = fusionrec.compare(top, run, ["recall@10", "ndcg@10"])
    assert (level["difference"] == 0).all() and (level["a_better"] == 0).all()
    assert level["a"].tolist() == pytest.approx([test["recall@10"], test["ndcg@10"]])
    reversed_lists = shuffled.assign(rank=-shuffled["rank"])  # each list upside down
    reversed_lists.to_csv(tmp_path / "reversed.csv", index=False)
    out = invoke("compare", str(run), str(tmp_path / "reversed.csv"), "--metrics", "ndcg@10")
    assert "ndcg@10: A" in out.output and "A - B +" in out.output
    both = runner.invoke(app, ["compare", str(top), str(tmp_path / "reversed.csv")])
    assert both.exit_code != 0 and "are both files" in str(both.exception)
