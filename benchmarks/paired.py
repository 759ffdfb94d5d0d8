"""Is a model's lead over another real? A paired test over the test users.

The model comparisons say a model beats the tuned LightGCN when its mean over seeds exceeds
LightGCN's by more than the larger seed spread: that guards against training noise only. A
reviewer also asks whether the lead holds across users: the same users are scored by both
models, so each user gives one paired difference. Here each user's test metric is averaged
over the run's seeds (the chosen setting retrained per seed), and the differences over the
users are tested two ways: a paired t-test (the mean difference, with its 95 % confidence
interval) and the Wilcoxon signed-rank test (no normality assumed; users with no difference
are left out, as the test defines). Both are two-sided.

Per-user metrics come from the runs' saved best weights, re-scored with this commit's code
exactly as the experiment scored test (train and validation masked). A run trained at an
older commit can re-score a little differently (the speed work since changed float summation
orders and which of two equally similar items a kNN graph keeps), so each seed's mean is
compared with the test metric the run recorded: the largest gap is reported, and a gap over
``TOLERANCE`` means the reloaded model is not the one measured, an error. They are cached
beside the run (``per_user_test.json``, keyed by its ``results.json``).
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import numpy as np

from fusionrec.io import read_json, write_json

METRICS = ("recall@20", "ndcg@20")
CACHE = "per_user_test.json"
#: the largest gap allowed between a re-scored seed's mean and its recorded test metric
TOLERANCE = 2e-3


def per_user_test(run: Path, metrics: tuple[str, ...] = METRICS) -> dict[str, Any]:
    """``{"users": [...], metric: [...]}``: each test user's metric, averaged over the seeds of
    the finished run in ``run`` (its ``results.json`` and ``seed-*/best.pt``)."""
    stamp = hashlib.sha256((run / "results.json").read_bytes()).hexdigest()
    cache = run / CACHE
    if cache.exists() and read_json(cache)["results_sha256"] == stamp:
        return read_json(cache)["per_user"]
    from fusionrec.data.split import TEST, TRAIN, VALID
    from fusionrec.evaluate import Evaluator
    from fusionrec.train.reload import load_run_model

    results = read_json(run / "results.json")
    ks = sorted({int(m.split("@")[1]) for m in metrics})
    prep, evaluator, sums, gap = None, None, {m: 0.0 for m in metrics}, 0.0
    for record in results["per_seed"]:
        model, prep = load_run_model(run, record["seed"], prep)
        if evaluator is None:
            ds, split = prep.dataset, prep.split
            seen = split.matrix(ds, TRAIN) + split.matrix(ds, VALID)
            evaluator = Evaluator(split.matrix(ds, TEST), seen, ks=ks)
        model.eval()
        rows = evaluator.per_user(model.score)
        for m in metrics:
            gap = max(gap, abs(float(rows[m].mean()) - record["test"][m]))
            if gap > TOLERANCE:
                raise RuntimeError(
                    f"{run} seed {record['seed']}: re-scored test {m} {rows[m].mean():.6f} != "
                    f"recorded {record['test'][m]:.6f}; the reloaded model is not the one measured"
                )
            sums[m] = sums[m] + rows[m].astype(np.float64)
    assert evaluator is not None, f"{run}: no seeds"
    n = len(results["per_seed"])
    out = {
        "users": evaluator.users.tolist(),
        "gap": gap,
        **{m: (sums[m] / n).tolist() for m in metrics},
    }
    write_json(cache, {"results_sha256": stamp, "per_user": out})
    return out


def paired_difference(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """a - b over paired users: mean with its 95 % t interval, the two-sided paired t-test and
    Wilcoxon signed-rank p-values, and how many users are better, worse or level."""
    from scipy import stats

    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    n = len(d)
    half = stats.t.ppf(0.975, n - 1) * d.std(ddof=1) / math.sqrt(n)
    nonzero = d[d != 0]
    return {
        "mean": float(d.mean()),
        "low": float(d.mean() - half),
        "high": float(d.mean() + half),
        "p_t": float(stats.ttest_rel(a, b).pvalue),
        "p_wilcoxon": float(stats.wilcoxon(nonzero).pvalue) if len(nonzero) else 1.0,
        "users": n,
        "better": int((d > 0).sum()),
        "worse": int((d < 0).sum()),
    }


def run_of(runs: Path, model: str) -> Path:
    """Where a study keeps a model's finished run: the chosen setting's ``best`` run of a
    search, else the model's own folder (a model without a search space)."""
    best = runs / model / "best"
    return best if (best / "results.json").exists() else runs / model


def paired_lines(runs: Path, model: str, base: str = "lightgcn") -> list[str]:
    """The verdict's lines for ``model`` against ``base``, both finished under ``runs``."""
    a, b = per_user_test(run_of(runs, model)), per_user_test(run_of(runs, base))
    if a["users"] != b["users"]:
        raise RuntimeError(f"{model} and {base} were tested on different users")
    gap = max(a["gap"], b["gap"])
    lines = [
        f"  - paired over the {len(a['users'])} test users (each user's metric averaged over "
        f"the seeds, re-scored from the saved weights: seed means within {gap:.1e} of the "
        f"recorded; {model} minus {base}; two-sided):"
    ]
    for m in METRICS:
        r = paired_difference(np.array(a[m]), np.array(b[m]))
        lines.append(
            f"    - {m}: {r['mean']:+.4f} (95 % CI {r['low']:+.4f} to {r['high']:+.4f}); "
            f"paired t-test p = {r['p_t']:.2g}, Wilcoxon p = {r['p_wilcoxon']:.2g}; "
            f"better for {r['better']} users, worse for {r['worse']}"
        )
    return lines


def paired_table(runs: Path, models: list[str], base: str = "lightgcn") -> list[str]:
    """A section comparing every finished model in ``models`` with ``base``, paired over the
    test users. Only the verdict's model was chosen before looking (on validation); these
    p-values are uncorrected for the many comparisons, for orientation."""
    rows = [
        f"## Every model against the tuned {base}, paired over the test users",
        "",
        "Each user's test metric averaged over the seeds; the difference, its 95 % confidence "
        "interval and the two-sided paired t-test p-value. Uncorrected for the number of "
        "models: the claim is the verdict's model, chosen on validation before any of these "
        "was computed.",
        "",
        f"| model | recall@20 minus {base} (95 % CI) | p | ndcg@20 minus {base} (95 % CI) | p |",
        "|---|---|---|---|---|",
    ]
    b = per_user_test(run_of(runs, base))
    for model in models:
        if model == base:
            continue
        a = per_user_test(run_of(runs, model))
        if a["users"] != b["users"]:
            raise RuntimeError(f"{model} and {base} were tested on different users")
        cells = []
        for m in METRICS:
            r = paired_difference(np.array(a[m]), np.array(b[m]))
            cells += [f"{r['mean']:+.4f} ({r['low']:+.4f} to {r['high']:+.4f})", f"{r['p_t']:.2g}"]
        rows.append(f"| {model} | " + " | ".join(cells) + " |")
    return rows
