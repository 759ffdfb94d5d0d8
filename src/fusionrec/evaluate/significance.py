"""Is one model's lead over another real? A paired test over the evaluated users.

Two models scored on the same split rank items for the same users, so each user gives one
paired difference of a metric; the users are the sample. Reported: the mean difference with
its 95 % t interval, the two-sided paired t-test, and the two-sided Wilcoxon signed-rank test
(no normality assumed; users with no difference are left out, as that test defines), with
how many users are better, worse or level. Averaging each user's metric over several seeds
first removes most of the training noise from the comparison (Dror et al., "The Hitchhiker's
Guide to Testing Statistical Significance in NLP", ACL 2018, for the choice of tests).
"""

from __future__ import annotations

import math

import numpy as np


def paired_difference(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Statistics of ``a - b`` over paired users (equal-length arrays, same user order)."""
    from scipy import stats

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise ValueError(f"need two equal 1-d arrays of at least 2 users, got {a.shape}, {b.shape}")
    d = a - b
    n = len(d)
    half = stats.t.ppf(0.975, n - 1) * d.std(ddof=1) / math.sqrt(n)
    nonzero = d[d != 0]
    level = not nonzero.size
    return {
        "mean": float(d.mean()),
        "low": float(d.mean() - half),
        "high": float(d.mean() + half),
        "p_t": 1.0 if level else float(stats.ttest_rel(a, b).pvalue),
        "p_wilcoxon": 1.0 if level else float(stats.wilcoxon(nonzero).pvalue),
        "users": n,
        "better": int((d > 0).sum()),
        "worse": int((d < 0).sum()),
    }
