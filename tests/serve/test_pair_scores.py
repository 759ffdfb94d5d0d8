"""``score(user_ids, item_ids)``: the model's score of given (user, item) pairs, the numbers
``recommend`` ranks by; a bundle gives the run's scores (vectors and item-item W), over HTTP
too, for a candidate list another system retrieved."""

from __future__ import annotations

import httpx
import numpy as np
import pandas as pd
import pytest

import fusionrec
from fusionrec.errors import ConfigError, DataError
from fusionrec.serve.recommender import load_bundle


def pairs(rec, n: int = 60) -> tuple[list, list]:
    rng = np.random.default_rng(0)
    return (
        rec.user_ids[rng.integers(0, len(rec.user_ids), n)].tolist(),
        rec.item_ids[rng.integers(0, len(rec.item_ids), n)].tolist(),
    )


def test_pair_scores_are_the_scores_recommend_ranks_by(trained_run):
    rec = fusionrec.load(trained_run)
    top = rec.recommend("u4", k=6, exclude_seen=False)
    np.testing.assert_allclose(rec.score("u4", top["item_id"]), top["score"], rtol=1e-6)
    users, items = pairs(rec)
    scores = rec.score(users, items)
    one = [rec.score(u, [i])[0] for u, i in zip(users, items, strict=True)]
    np.testing.assert_allclose(scores, one, rtol=1e-6)
    assert scores.std() > 1e-3
    with pytest.raises(ConfigError, match="got 2 user ids for 3 item ids"):
        rec.score(["u1", "u2"], ["i1", "i2", "i3"])
    with pytest.raises(DataError, match="unknown item ids: 'nope'"):
        rec.score("u1", ["i1", "nope"])


@pytest.mark.parametrize("which", ["bundle", "itemknn_bundle"])
def test_a_bundle_scores_pairs_as_its_run(which, request):
    bundle = request.getfixturevalue(which)
    served = load_bundle(bundle)
    run = served.manifest["run_dir"]
    fitted = fusionrec.load(run)
    users, items = pairs(fitted)
    expected = fitted.score(users, items)
    np.testing.assert_allclose(served.score(users, items), expected, rtol=1e-4, atol=1e-5)
    assert np.ptp(expected) > 1e-3


def test_candidates_are_scored_over_http_in_the_order_given(server, trained_run):
    fitted = fusionrec.load(trained_run)
    candidates = ["i30", "i2", "i17", "i2"]
    got = httpx.post(f"{server}/users/u5/scores", json={"item_ids": candidates})
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["user_id"] == "u5" and [i["item_id"] for i in body["items"]] == candidates
    np.testing.assert_allclose(
        [i["score"] for i in body["items"]], fitted.score("u5", candidates), rtol=1e-4
    )
    unknown = httpx.post(f"{server}/users/u5/scores", json={"item_ids": ["i1", "zz"]})
    assert unknown.status_code == 404 and "'zz'" in unknown.json()["detail"]
    assert httpx.post(f"{server}/users/nobody/scores", json={"item_ids": ["i1"]}).status_code == 404
    assert httpx.post(f"{server}/users/u5/scores", json={"item_ids": []}).status_code == 422


def test_the_command_line_scores_a_table_of_pairs(trained_run, tmp_path):
    from typer.testing import CliRunner

    from fusionrec.cli import app

    rec = fusionrec.load(trained_run)
    users, items = pairs(rec, 12)
    table = pd.DataFrame({"user_id": users, "item_id": items, "source": "elsewhere"})
    table.to_csv(tmp_path / "pairs.csv", index=False)
    runner = CliRunner()
    args = ["score", str(trained_run), "--pairs", str(tmp_path / "pairs.csv")]
    result = runner.invoke(app, [*args, "-o", str(tmp_path / "scored.parquet")])
    assert result.exit_code == 0, result.output
    assert "12 pairs scored by mgcn" in result.output
    scored = pd.read_parquet(tmp_path / "scored.parquet")
    assert scored["source"].eq("elsewhere").all()  # the table's own columns are kept
    np.testing.assert_allclose(scored["score"], rec.score(users, items), rtol=1e-6)
    table.rename(columns={"item_id": "movie"}).to_csv(tmp_path / "bad.csv", index=False)
    bad = runner.invoke(app, ["score", str(trained_run), "--pairs", str(tmp_path / "bad.csv"),
                              "-o", str(tmp_path / "x.csv")])  # fmt: skip
    assert "bad.csv: no item_id column (columns: user_id, movie, source)" in str(bad.exception)
