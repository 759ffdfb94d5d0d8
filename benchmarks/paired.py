"""Is a model's lead over another real? The comparisons' paired test over the test users.

The model comparisons say a model beats the tuned LightGCN when its mean over seeds exceeds
LightGCN's by more than the larger seed spread: that guards against training noise only. A
reviewer also asks whether the lead holds across users. Each user's test metric is averaged
over the run's seeds (the chosen setting retrained per seed) and the two models' users are
paired, as ``fusionrec compare`` does (``fusionrec.train.compare``; the statistics are
``fusionrec.evaluate.significance``).

Per-user metrics come from the runs' saved best weights, re-scored with this commit's code
exactly as the experiment scored test. A run trained at an older commit can re-score a little
differently (the speed work since changed float summation orders and which of two equally
similar items a kNN graph keeps), so each seed's mean is compared with the test metric the
run recorded: the largest gap is reported, and a gap over ``TOLERANCE`` means the reloaded
model is not the one measured, an error. They are cached beside the run
(``per_user_test.json``, keyed by its ``results.json``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from fusionrec.evaluate.significance import paired_difference
from fusionrec.io import read_json, write_json

METRICS = ("recall@20", "ndcg@20")
CACHE = "per_user_test.json"
#: the largest gap allowed between a re-scored seed's mean and its recorded test metric
TOLERANCE = 2e-3


def results_stamp(*runs: Path) -> str:
    """The digest of finished runs' ``results.json``: what a cache computed from those runs
    is keyed by, so a re-run is scored again."""
    return hashlib.sha256(b"".join((r / "results.json").read_bytes() for r in runs)).hexdigest()


def per_user_test(run: Path, metrics: tuple[str, ...] = METRICS) -> dict[str, Any]:
    """``{"users": [...], metric: [...]}``: each test user's metric, averaged over the seeds of
    the finished run in ``run`` (its ``results.json`` and ``seed-*/best.pt``)."""
    stamp = results_stamp(run)
    cache = run / CACHE
    if cache.exists() and read_json(cache)["results_sha256"] == stamp:
        return read_json(cache)["per_user"]
    from fusionrec.train.compare import seed_mean
    from fusionrec.train.reload import per_user_metrics

    results = read_json(run / "results.json")
    scored = per_user_metrics(run, "test")
    gap = 0.0
    for record in results["per_seed"]:
        rows = scored.seeds[record["seed"]]
        for m in metrics:
            gap = max(gap, abs(float(rows[m].mean()) - record["test"][m]))
            if gap > TOLERANCE:
                raise RuntimeError(
                    f"{run} seed {record['seed']}: re-scored test {m} {rows[m].mean():.6f} != "
                    f"recorded {record['test'][m]:.6f}; the reloaded model is not the one measured"
                )
    out = {
        "users": scored.users.tolist(),
        "gap": gap,
        **{m: seed_mean(scored, m, run).tolist() for m in metrics},
    }
    write_json(cache, {"results_sha256": stamp, "per_user": out})
    return out


def run_of(runs: Path, model: str) -> Path:
    """Where a study keeps a model's finished run: the chosen setting's ``best`` run of a
    search, else the model's own folder (a model without a search space)."""
    best = runs / model / "best"
    return best if (best / "results.json").exists() else runs / model


def check_comparable(a: Path, b: Path) -> None:
    """Two runs are paired over users only if they ranked the same held-out items the same
    way: the split their manifests record (its digest travels with a study's saved state)
    and the masking (``evaluate.repeat``). The same users alone do not show that."""
    facts = []
    for run in (a, b):
        manifest = read_json(run / "manifest.json") if (run / "manifest.json").exists() else {}
        repeat = read_json(run / "results.json").get("repeat", False)
        facts.append((manifest.get("split", {}).get("sha256"), repeat))
    (split_a, repeat_a), (split_b, repeat_b) = facts
    if split_a and split_b and split_a != split_b:
        raise RuntimeError(f"{a} and {b} were scored on different splits (manifest digests)")
    if repeat_a != repeat_b:
        raise RuntimeError(f"{a} and {b} masked differently (evaluate.repeat)")


def paired(runs: Path, model: str, base: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``model`` minus ``base`` per metric of ``METRICS``, paired over the test users, and the
    largest gap between a re-scored seed and its record (for the line that says so)."""
    check_comparable(run_of(runs, model), run_of(runs, base))
    a, b = per_user_test(run_of(runs, model)), per_user_test(run_of(runs, base))
    if a["users"] != b["users"]:
        raise RuntimeError(f"{model} and {base} were tested on different users")
    stats = {m: paired_difference(np.array(a[m]), np.array(b[m])) for m in METRICS}
    return stats, {"users": len(a["users"]), "gap": max(a["gap"], b["gap"])}


def paired_lines(runs: Path, model: str, base: str = "lightgcn") -> list[str]:
    """The verdict's lines for ``model`` against ``base``, both finished under ``runs``."""
    return paired_text(model, base, *paired(runs, model, base))


def paired_text(model: str, base: str, stats: dict[str, Any], facts: dict[str, Any]) -> list[str]:
    """``paired_lines`` from the statistics ``paired`` returned (for a verdict that also
    reads them)."""
    lines = [
        f"  - paired over the {facts['users']} test users (each user's metric averaged over "
        f"the seeds, re-scored from the saved weights: seed means within {facts['gap']:.1e} of "
        f"the recorded; {model} minus {base}; two-sided):"
    ]
    for m, r in stats.items():
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
    for model in models:
        if model == base:
            continue
        cells = []
        for r in paired(runs, model, base)[0].values():
            cells += [f"{r['mean']:+.4f} ({r['low']:+.4f} to {r['high']:+.4f})", f"{r['p_t']:.2g}"]
        rows.append(f"| {model} | " + " | ".join(cells) + " |")
    return rows
