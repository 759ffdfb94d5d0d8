"""``recommend_for_histories``: many users new since training, each from their own history
rows, at once; the same answers as one ``recommend_for_items`` per user, from a run and from
its bundle, and in time order for a sequential model; ``fusionrec recommend --histories``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import fusionrec
from fusionrec.cli import app
from fusionrec.errors import DataError
from fusionrec.serve.recommender import load_bundle

HISTORIES = pd.DataFrame(
    {
        "user_id": ["new-a", "new-b", "new-a", "new-c", "new-b", "new-a"],
        "item_id": ["i1", "i30", "i4", "i12", "i25", "i9"],
        "timestamp": [5, 2, 1, 9, 1, 3],
    }
)


def per_user(rec, frame: pd.DataFrame, k: int, **rules) -> pd.DataFrame:
    """One recommend_for_items per user, on their rows in timestamp order."""
    ordered = frame.sort_values("timestamp", kind="stable")
    parts = [
        rec.recommend_for_items(g["item_id"].tolist(), k=k, **rules).assign(user_id=u)
        for u, g in ordered.groupby("user_id", sort=False)
    ]
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize("source", ["run", "bundle"])
def test_a_batch_of_new_users_is_answered_as_one_user_at_a_time(source, trained_run, bundle):
    rec = fusionrec.load(trained_run) if source == "run" else load_bundle(bundle)
    got = rec.recommend_for_histories(HISTORIES, k=4, exclude=["i2"])
    want = per_user(rec, HISTORIES, 4, exclude=["i2"])
    assert got["user_id"].tolist() == want["user_id"].tolist()
    assert got["item_id"].tolist() == want["item_id"].tolist()
    np.testing.assert_allclose(got["score"], want["score"], rtol=1e-6)
    assert got.groupby("user_id")["rank"].max().tolist() == [4, 4, 4]
    assert "i2" not in set(got["item_id"])
    with pytest.raises(DataError, match="unknown item ids: 'nope'"):
        rec.recommend_for_histories(HISTORIES.assign(item_id=["i1", "nope", *["i2"] * 4]))
    with pytest.raises(DataError, match="no item_id column"):
        rec.recommend_for_histories(HISTORIES.rename(columns={"item_id": "movie"}))


def test_a_sequential_model_reads_each_history_in_time_order(sasrec_run):
    rec = fusionrec.load(sasrec_run)
    got = rec.recommend_for_histories(HISTORIES, k=5)
    want = per_user(rec, HISTORIES, 5)
    np.testing.assert_allclose(got["score"], want["score"], rtol=1e-5)
    in_file_order = rec.recommend_for_items(["i1", "i4", "i9"], k=5)  # new-a, not time order
    assert not np.allclose(in_file_order["score"], got[got["user_id"] == "new-a"]["score"])


def test_the_command_line_recommends_for_a_file_of_histories(trained_run, tmp_path):
    HISTORIES.to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "recs.jsonl"
    args = ["recommend", str(trained_run), "--histories", str(tmp_path / "new.csv"), "-k", "3"]
    result = CliRunner().invoke(app, [*args, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "top 3 for each of 3 new users" in result.output
    written = pd.read_json(out, lines=True)
    want = per_user(fusionrec.load(trained_run), HISTORIES, 3)
    assert written["item_id"].tolist() == want["item_id"].tolist()
    shown = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert shown.exit_code == 0 and "user id" in shown.output and "new-c" in shown.output
