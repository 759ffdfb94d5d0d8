"""Full-ranking evaluation speed on Amazon-Baby (19,445 users x 7,050 items).

Target (issue #2): a 64-d dot-product model is evaluated on the test split, all items
ranked, train + valid masked, K in {10, 20, 50}, in at most 5 s on the 2-core machine.
Reports the median of ``--repeats`` runs.

    python benchmarks/bench_evaluation.py [--repeats 5] [--batch-users 4096]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from common import RESULTS, header, write_result
from fusionrec.data import load_dataset, make_split
from fusionrec.evaluate import Evaluator


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch-users", type=int, default=4096)
    ap.add_argument("--out", default=str(RESULTS / "evaluation_speed.md"))
    args = ap.parse_args()
    ds = load_dataset("amazon-baby")
    split = make_split(ds, "predefined")
    train, valid, test = (split.matrix(ds, p) for p in (0, 1, 2))
    gen = torch.Generator().manual_seed(0)
    users = torch.randn(ds.n_users, 64, generator=gen)
    items = torch.randn(ds.n_items, 64, generator=gen)
    evaluator = Evaluator(test, train + valid, ks=[10, 20, 50], batch_users=args.batch_users)
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        metrics = evaluator.evaluate(lambda u: users[u] @ items.T)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    verdict = "met" if med <= 5.0 else "NOT met"
    text = header("Full-ranking evaluation speed, Amazon-Baby") + (
        f"\n- users evaluated: {evaluator.n_users:,}; items ranked: {ds.n_items:,}; "
        f"K = 10, 20, 50; batch of {args.batch_users} users\n"
        f"- seconds per full evaluation (median of {args.repeats}): **{med:.2f} s** "
        f"(runs: {', '.join(f'{t:.2f}' for t in times)}); target <= 5 s: {verdict}\n"
        f"- sanity: random-model Recall@20 = {metrics['recall@20']:.4f} "
        f"(expected about 20/7050 = {20 / 7050:.4f})\n"
    )
    write_result(Path(args.out), text)
    print(text)


if __name__ == "__main__":
    main()
