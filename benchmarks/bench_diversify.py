"""What ``diversify`` costs and buys on movielens-100k-mm: each user's top 20 re-ranked by
maximal marginal relevance (``fusionrec.tasks.diversify``), through the recommender's own
``users_top``, as ``recommend`` and the served API do.

A model is fitted on the canonical split (its shipped defaults; item text and posters loaded
so the ``text`` and ``image`` views exist), then every (similarity, weight) pair ranks all
users. The lists are scored by the evaluator with the experiment's masking (training items
for validation, training + validation items for test): Recall@20 and NDCG@20, and how the
lists spread: ``diversity@20`` (intra-list diversity by co-rating, the evaluator's measure),
``novelty@20``, ``coverage@20``. Per similarity the largest weight whose *validation*
Recall@20 stays within ``--budget`` (relative) of the model's own order is chosen; its test
numbers are read once, paired over users against the model's order.

    python benchmarks/bench_diversify.py [--models lightgcn] [--threads 1]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

import fusionrec
from common import RESULTS, header, write_result
from fusionrec.data.split import TEST, TRAIN, VALID
from fusionrec.evaluate import Evaluator
from fusionrec.evaluate.significance import paired_difference

DATASET = "movielens-100k-mm"
SPLIT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / DATASET
WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7)
SIMILARITIES = ("ratings", "text", "image")
K = 20
SHOWN = ("recall@20", "ndcg@20", "diversity@20", "novelty@20", "coverage@20")
#: views whose intra-list diversity the table also shows (the lists' spread in content)
CONTENT_VIEWS = ("text", "image")


def ranked_scores(rec: Any, seen: sp.csr_matrix, weight: float, by: str) -> torch.Tensor:
    """[users, items] scores that rank each user's (diversified) top ``K`` first, in list
    order, and nothing else: the evaluator then scores exactly those lists."""
    rec.seen_matrix = seen  # what exclude_seen masks: the evaluator's masking of this part
    users = np.arange(len(rec.user_ids))
    scores = torch.full((len(users), len(rec.item_ids)), -torch.inf)
    for user, (rows, _) in zip(users, rec.users_top(users, K, True, None, weight, by), strict=True):
        scores[user, torch.from_numpy(rows)] = torch.arange(len(rows), 0, -1, dtype=torch.float32)
    return scores


def content_diversity(rec: Any, scores: torch.Tensor, users: np.ndarray, view: str) -> float:
    """Mean over ``users`` of their list's intra-list diversity in ``view``: 1 - the mean
    cosine of the list's item vectors over its pairs (items without the content: 0)."""
    top = torch.topk(scores[torch.from_numpy(users)], K).indices.numpy()
    vectors = rec.unit_vectors(view)[top]  # [users, K, d]
    summed = vectors.sum(axis=1)
    own = (vectors**2).sum(axis=(1, 2))
    pairs = ((summed**2).sum(axis=1) - own) / (K * (K - 1))
    return float((1.0 - pairs).mean())


def measure(rec: Any) -> dict[str, Any]:
    """Every (similarity, weight): validation and test metrics, and test Recall@20 per user."""
    ds, split = rec.dataset, rec.split
    train, valid, test = (split.matrix(ds, p) for p in (TRAIN, VALID, TEST))
    popularity = np.asarray((train != 0).sum(axis=0)).ravel()
    parts = {
        "valid": (valid, train),
        "test": (test, (train + valid).tocsr()),
    }
    evaluators = {
        name: Evaluator(
            target, seen, ks=[10, K], item_popularity=popularity, item_interactions=train
        )
        for name, (target, seen) in parts.items()
    }
    out: dict[str, Any] = {}
    for by in SIMILARITIES:
        if by != "ratings" and by not in rec.views():
            continue
        for weight in WEIGHTS:
            if weight == 0.0 and by != "ratings":
                out[(by, weight)] = out[("ratings", 0.0)]  # the model's order, whatever "by"
                continue
            row: dict[str, Any] = {}
            for name, (_, seen) in parts.items():
                scores = ranked_scores(rec, seen, weight, by)
                row[name] = evaluators[name].evaluate(lambda users, s=scores: s[users])
                if name == "test":
                    per_user = evaluators[name].per_user(lambda users, s=scores: s[users])
                    row["test_recall_per_user"] = per_user[f"recall@{K}"]
                    for view in CONTENT_VIEWS:
                        row["test"][f"{view}-diversity@{K}"] = content_diversity(
                            rec, scores, evaluators[name].users, view
                        )
            out[(by, weight)] = row
            print(
                by,
                weight,
                {
                    m: round(row["test"][m], 4)
                    for m in SHOWN + ("text-diversity@20", "image-diversity@20")
                },
                flush=True,
            )
    return out


def chosen(found: dict[str, Any], by: str, budget: float) -> float:
    """The largest weight whose validation Recall@20 is within ``budget`` of weight 0's."""
    base = found[(by, 0.0)]["valid"][f"recall@{K}"]
    ok = [
        w
        for (b, w), row in found.items()
        if b == by and row["valid"][f"recall@{K}"] >= (1 - budget) * base
    ]
    return max(ok)


def report(
    model: str, rec: Any, found: dict[str, Any], args: argparse.Namespace, seconds: float
) -> list[str]:
    results = __import__("json").loads((Path(rec.run_dir) / "results.json").read_text())
    seed = results["per_seed"][0]
    lines = [
        f"## {model}",
        "",
        f"Fitted with its shipped defaults in {seconds:.0f} s (best epoch {seed['best_epoch']} of "
        f"{seed['epochs']}); views: {', '.join(rec.views())}.",
        "",
        "| similarity | weight | valid Recall@20 | valid diversity@20 | test Recall@20 | "
        "test NDCG@20 | test diversity@20 | test text diversity@20 | test image diversity@20 | "
        "test novelty@20 | test coverage@20 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (by, weight), row in found.items():
        if weight == 0.0 and by != "ratings":
            continue
        v, t = row["valid"], row["test"]
        name = "(the model's order)" if weight == 0.0 else by
        lines.append(
            f"| {name} | {weight:g} | {v['recall@20']:.4f} | {v['diversity@20']:.4f} | "
            f"{t['recall@20']:.4f} | {t['ndcg@20']:.4f} | {t['diversity@20']:.4f} | "
            f"{t['text-diversity@20']:.4f} | {t['image-diversity@20']:.4f} | "
            f"{t['novelty@20']:.3f} | {t['coverage@20']:.4f} |"
        )
    lines += ["", f"Chosen on validation (the largest weight within {args.budget:.0%} of the "
              "model's own validation Recall@20), test read once:", ""]  # fmt: skip
    base = found[("ratings", 0.0)]
    for by in dict.fromkeys(b for b, _ in found):
        weight = chosen(found, by, args.budget)
        if weight == 0.0:
            lines.append(f"- by {by}: no weight above 0 keeps validation Recall@20 in budget")
            continue
        row = found[(by, weight)]
        r = paired_difference(row["test_recall_per_user"], base["test_recall_per_user"])
        t, b = row["test"], base["test"]
        lines.append(
            f"- by {by}, weight {weight:g}: test diversity@20 {b['diversity@20']:.4f} -> "
            f"{t['diversity@20']:.4f} (text {b['text-diversity@20']:.4f} -> "
            f"{t['text-diversity@20']:.4f}, image {b['image-diversity@20']:.4f} -> "
            f"{t['image-diversity@20']:.4f}), novelty@20 {b['novelty@20']:.3f} -> "
            f"{t['novelty@20']:.3f}, coverage@20 {b['coverage@20']:.4f} -> "
            f"{t['coverage@20']:.4f}, for test Recall@20 {r['mean']:+.4f} paired over "
            f"{len(row['test_recall_per_user'])} users (95 % CI {r['low']:+.4f} to "
            f"{r['high']:+.4f}, p = {r['p_t']:.2g})"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="lightgcn", help="comma-separated (default lightgcn)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--budget", type=float, default=0.02, help="validation Recall@20 a weight may lose"
    )
    parser.add_argument("--epochs", type=int, default=None, help="cap (default: the preset's)")
    parser.add_argument("--runs", default="runs/bench-diversify")
    parser.add_argument("--out", type=Path, default=RESULTS / "diversify.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sections = []
    for model in args.models.split(","):
        start = time.perf_counter()
        rec = fusionrec.fit(
            DATASET,
            model=model,
            features=["text", "image"],
            split={"method": "predefined", "path": str(SPLIT.resolve() / "split-8-1-1.inter")},
            train={"threads": args.threads, **({"epochs": args.epochs} if args.epochs else {})},
            seeds=[2026],
            run_dir=f"{args.runs}/{model}",
        )
        seconds = time.perf_counter() - start
        sections += report(model, rec, measure(rec), args, seconds) + [""]
    title = "Diversified recommendations: what MMR re-ranking costs and buys (movielens-100k-mm)"
    weights = ", ".join(f"{w:g}" for w in WEIGHTS)
    setup = [
        header(title),
        f"- split: canonical `split-8-1-1.inter`; every user's top {K} re-ranked by maximal "
        f"marginal relevance from the model's best {5 * K} (`diversify`), weights {weights}; "
        "similarity by co-rating (`ratings`) or the item text / poster vectors (MiniLM, "
        "EfficientNet-Lite0)",
        "- scored by the evaluator with the experiment's masking (training items for "
        "validation, training + validation items for test); diversity@20 is measured by "
        "co-rating (docs/evaluation.md), text / image diversity@20 the same way over the "
        "lists' MiniLM / EfficientNet vectors, whatever the re-ranking's similarity",
        "",
    ]
    write_result(args.out, "\n".join([*setup, *sections]))


if __name__ == "__main__":
    main()
