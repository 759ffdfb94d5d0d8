"""The paired statistics behind ``fusionrec compare`` and the model comparisons' verdicts."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from fusionrec.evaluate.significance import paired_difference


def test_paired_difference_statistics():
    rng = np.random.default_rng(0)
    b = rng.random(200)
    lead = paired_difference(b + 0.05 + rng.normal(0, 0.01, 200), b)
    assert lead["mean"] == pytest.approx(0.05, abs=0.003)
    assert lead["low"] < lead["mean"] < lead["high"] and lead["high"] - lead["low"] < 0.01
    assert lead["p_t"] < 1e-6 and lead["p_wilcoxon"] < 1e-6
    assert lead["better"] + lead["worse"] == lead["users"] == 200
    noise = paired_difference(b + rng.normal(0, 0.1, 200), b)
    assert noise["low"] < 0 < noise["high"] and noise["p_t"] > 0.05
    level = paired_difference(b, b.copy())
    assert level["mean"] == 0 and level["p_t"] == level["p_wilcoxon"] == 1.0 and not level["better"]


def test_the_interval_and_p_value_follow_their_definitions():
    """By the formulas: mean ± t(0.975, n-1) s / sqrt(n), and p from the t distribution."""
    rng = np.random.default_rng(1)
    a, b = rng.random(50), rng.random(50)
    d = a - b
    r = paired_difference(a, b)
    half = stats.t.ppf(0.975, 49) * d.std(ddof=1) / np.sqrt(50)
    assert (r["low"], r["high"]) == pytest.approx((d.mean() - half, d.mean() + half))
    t = d.mean() / (d.std(ddof=1) / np.sqrt(50))
    assert r["p_t"] == pytest.approx(2 * stats.t.sf(abs(t), 49))


def test_unpaired_input_is_refused():
    with pytest.raises(ValueError, match="equal"):
        paired_difference(np.ones(3), np.ones(4))


def test_users_level_over_seeds_stay_level():
    """Two runs whose seeds hold the same per-user values in another order are level for
    every user: averaging float32 rows in float32 would call a fifth of them better or worse."""
    from pathlib import Path

    from fusionrec.train.compare import seed_mean
    from fusionrec.train.reload import PerUser

    rows = np.random.default_rng(0).random((3, 1000)).astype(np.float32)
    a = PerUser(np.arange(1000), None, {s: {"recall@20": rows[s]} for s in range(3)})
    b = PerUser(np.arange(1000), None, {s: {"recall@20": rows[(s + 1) % 3]} for s in range(3)})
    level = paired_difference(
        seed_mean(a, "recall@20", Path("a")), seed_mean(b, "recall@20", Path("b"))
    )
    assert level["better"] == level["worse"] == 0
