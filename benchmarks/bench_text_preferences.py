"""Natural-language preferences for new users on movielens-100k-mm: does a description built
from a few liked movies find the movies a user goes on to watch?

For every user, ``--few`` of their *training* items are drawn (seeded). Those items are all a
method may use:

* ``text``: a preference text from the titles and genres of the few items ("I like: Toy Story
  (1995), Animation, Children, Comedy; ..."), embedded with the dataset's text encoder,
  mapped into the recommender's item space by ridge regression fitted on training items
  (``FittedRecommender.recommend_for_text``), folded in as one liked pseudo-item;
* ``fold-in``: the few items' own learned vectors folded in (``recommend_for_items``);
* ``MostPopular``: training popularity; ``raw text cosine``: the description against item
  text features with no mapping (the reference the mapping must beat);
* ``full history`` (reference, not a new user): the trained model's own user vector.

Ranking follows the evaluator's protocol (all items ranked, the user's known interactions
masked: training items for validation, training + validation items for test). Recall@20 /
NDCG@20 are on validation items for selecting settings (ridge alpha, fold-in method and its
ridge weight) and on test items, scored once, for the table.

    python benchmarks/bench_text_preferences.py [--epochs 60] [--few 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

import fusionrec
from common import RESULTS, header, write_result
from fusionrec.data.split import TEST, TRAIN, VALID
from fusionrec.encoders.base import l2_normalize
from fusionrec.evaluate import Evaluator
from fusionrec.evaluate.significance import paired_difference
from fusionrec.tasks.foldin import FOLD_IN_METHODS, fold_in_scores

DATASET = "movielens-100k-mm"
SPLIT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / DATASET
ALPHAS = (0.01, 0.1, 1.0, 10.0)
REGS = (0.1, 1.0, 10.0)
METRICS = ("recall@20", "ndcg@20")


def fold_in_grid() -> list[dict]:
    """Every fold-in setting tried on validation (the ridge weight matters only for LS)."""
    grid = []
    for method in FOLD_IN_METHODS:
        for reg in REGS if method == "least-squares" else (1.0,):
            grid.append({"method": method, "reg": reg})
    return grid


def preference_text(rec, items: np.ndarray) -> str:
    """Titles and genres of the few liked items, as a person might list them."""
    table = rec.dataset.items
    parts = [
        f"{table['title'].iat[i]}, {str(table['genres'].iat[i]).replace('|', ', ')}" for i in items
    ]
    return "I like: " + "; ".join(parts)


def scores_of(item_vecs: np.ndarray, liked: list[np.ndarray], setting: dict, dot: bool):
    """[n_users, n_items] fold-in scores, one row per user's liked vectors."""
    rows = [fold_in_scores(item_vecs, v, setting["method"], setting["reg"], dot) for v in liked]
    return np.stack(rows)


def evaluate(scores: np.ndarray, evaluator: Evaluator) -> dict[str, float]:
    table = torch.from_numpy(scores.astype(np.float32))
    return evaluator.evaluate(lambda users: table[users.cpu()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--few", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--run-dir", default="runs/bench-text-preferences")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    rec = fusionrec.fit(
        DATASET,
        model="lightgcn",
        features=["text"],
        split={"method": "predefined", "path": str(SPLIT.resolve() / "split-8-1-1.inter")},
        train={"epochs": args.epochs, "lr": 5e-3, "patience": 10, "threads": args.threads},
        seeds=[2026],
        run_dir=args.run_dir,
    )
    fit_seconds = time.perf_counter() - start
    ds, split = rec.dataset, rec.split
    train, valid, test = (split.matrix(ds, p) for p in (TRAIN, VALID, TEST))
    rng = np.random.default_rng(2026)
    few = [rng.choice(train[u].indices, min(args.few, train[u].nnz), replace=False)
           for u in range(ds.n_users)]  # fmt: skip
    evaluators = {
        "valid": Evaluator(valid, train, ks=[20]),
        "test": Evaluator(test, train + valid, ks=[20]),
    }
    item_vecs, _ = rec.scoring_vectors()
    dot = rec.dot_product()
    texts = [preference_text(rec, f) for f in few]
    queries = rec.embed_text(texts)

    candidates: dict[str, list[tuple[dict, np.ndarray]]] = {"text": [], "fold-in": []}
    for setting in fold_in_grid():
        liked = [item_vecs[f] for f in few]
        candidates["fold-in"].append((setting, scores_of(item_vecs, liked, setting, dot)))
        for alpha in ALPHAS:
            pseudo = rec.text_map(alpha)(queries)
            s = scores_of(item_vecs, [p[None] for p in pseudo], setting, dot)
            candidates["text"].append(({**setting, "alpha": alpha}, s))
    rows = {}
    chosen = {}
    per_user: dict[str, np.ndarray] = {}  # test Recall@20 of each user, for the paired lines
    for name, options in candidates.items():
        valid_r = [evaluate(s, evaluators["valid"])["recall@20"] for _, s in options]
        best = int(np.argmax(valid_r))
        chosen[name] = (options[best][0], valid_r[best])
        rows[name] = (valid_r[best], evaluate(options[best][1], evaluators["test"]))
        per_user[name] = test_recall_per_user(options[best][1], evaluators["test"])
    popular = np.asarray(train.sum(axis=0)).ravel().astype(np.float32)
    text_feats = l2_normalize(rec.features["text"].matrix)
    fixed = {
        "MostPopular": np.tile(popular, (ds.n_users, 1)),
        "raw text cosine (no mapping)": l2_normalize(queries) @ text_feats.T,
        "full history (reference: trained user vectors)": rec.model.score(torch.arange(ds.n_users))
        .detach()
        .numpy(),
    }
    for name, s in fixed.items():
        rows[name] = (
            evaluate(s, evaluators["valid"])["recall@20"],
            evaluate(s, evaluators["test"]),
        )
    per_user["MostPopular"] = test_recall_per_user(fixed["MostPopular"], evaluators["test"])
    text = report(rows, chosen, args, fit_seconds, rec, per_user)
    write_result(RESULTS / "text_preferences.md", text)


def test_recall_per_user(scores: np.ndarray, evaluator: Evaluator) -> np.ndarray:
    table = torch.from_numpy(scores.astype(np.float32))
    return evaluator.per_user(lambda users: table[users.cpu()])["recall@20"]


def paired_line(a: str, b: str, per_user: dict[str, np.ndarray]) -> str:
    """``a`` against ``b`` on test Recall@20 paired over the users: ahead or behind only when
    the 95 % interval of the difference excludes zero (one seed and one draw of each user's
    items: the users are the sample)."""
    r = paired_difference(per_user[a], per_user[b])
    word = "ahead of" if r["low"] > 0 else "behind" if r["high"] < 0 else "not distinguishable from"
    return (
        f"- {a} is {word} {b}: {r['mean']:+.4f} test Recall@20 paired over {len(per_user[a])} "
        f"users (95 % CI {r['low']:+.4f} to {r['high']:+.4f}, paired t-test p = {r['p_t']:.2g})"
    )


def report(rows, chosen, args, fit_seconds: float, rec, per_user: dict[str, np.ndarray]) -> str:
    results = __import__("json").loads((Path(rec.run_dir) / "results.json").read_text())
    seed = results["per_seed"][0]
    lines = [
        header("Natural-language preferences for new users (movielens-100k-mm)"),
        f"- base model: lightgcn (lr 5e-3, at most {args.epochs} epochs, patience 10, seed "
        f"2026), best epoch {seed['best_epoch']} of {seed['epochs']}, fitted in "
        f"{fit_seconds:.0f} s; item text: all-MiniLM-L6-v2 over title, genres and plot",
        "- split: canonical `split-8-1-1.inter` (method predefined); "
        f"{int(rec.dataset.n_users)} users, each described by {args.few} of their training "
        "items drawn with numpy default_rng(2026)",
        "- protocol: all items ranked, the user's known interactions masked (training items "
        "for validation, training + validation items for test); settings chosen on "
        "validation Recall@20, test scored once",
        "",
        f"| method (uses only the {args.few} items) | valid Recall@20 | test Recall@20 | "
        "test NDCG@20 | setting (chosen on valid) |",
        "|---|---|---|---|---|",
    ]
    labels = {
        "text": "text description -> ridge map -> fold-in (`recommend_for_text`)",
        "fold-in": "fold-in of the items' vectors (`recommend_for_items`)",
    }
    for name, (valid, test) in rows.items():
        setting = chosen[name][0] if name in chosen else {}
        shown = ", ".join(f"{k} {v}" for k, v in setting.items()) or "-"
        lines.append(
            f"| {labels.get(name, name)} | {valid:.4f} | {test['recall@20']:.4f} | "
            f"{test['ndcg@20']:.4f} | {shown} |"
        )
    lines += [
        "",
        "The new-user methods on test, each with its setting chosen on validation:",
        "",
        paired_line("fold-in", "text", per_user),
        paired_line("text", "MostPopular", per_user),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
