"""Vector index benchmark: HNSW recall@10 against exact search and single-thread query
latency on 1,000,000 synthetic 64-d item vectors (``benchmarks/results/vector_index.md``).

The vectors are unit-length draws around 1,000 random centres (a mixture, as learned item
embeddings are clustered rather than uniform noise); queries come from the same mixture and
are not in the index. Truth is ``fusionrec.serve.index``'s exact (flat) index; the ANN index
is what ``IndexConfig(kind="auto")`` builds above ``exact_max`` vectors. Bars (issue 10):
recall@10 >= 0.95 and median and p99 query latency < 5 ms on one thread.

    python benchmarks/bench_index.py [--n 1000000] [--queries 1000]
"""

from __future__ import annotations

import argparse
import time

import faiss
import numpy as np

from common import RESULTS, header, write_result
from fusionrec.encoders.base import l2_normalize
from fusionrec.serve.index import IndexConfig, VectorIndex

DIM, K = 64, 10


def mixture(rng: np.random.Generator, n: int, centres: np.ndarray) -> np.ndarray:
    picks = rng.integers(0, len(centres), n)
    return l2_normalize(centres[picks] + 1.0 * rng.normal(size=(n, DIM)) / np.sqrt(DIM)).astype(
        np.float32
    )


def latencies(index: VectorIndex, queries: np.ndarray) -> np.ndarray:
    """Milliseconds per single-query search, one at a time."""
    out = np.empty(len(queries))
    for i, query in enumerate(queries):
        start = time.perf_counter()
        index.search(query[None], K)
        out[i] = (time.perf_counter() - start) * 1000
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--build-threads", type=int, default=2)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    centres = l2_normalize(rng.normal(size=(1000, DIM)))
    vectors, queries = mixture(rng, args.n, centres), mixture(rng, args.queries, centres)
    config = IndexConfig()
    faiss.omp_set_num_threads(args.build_threads)
    start = time.perf_counter()
    ann = VectorIndex.build(vectors, config=config)
    build_s = time.perf_counter() - start
    flat = VectorIndex.build(vectors, config=IndexConfig(kind="flat"))
    truth, _ = flat.search(queries, K)
    faiss.omp_set_num_threads(1)  # latency: one query on one thread, as the server runs
    found = np.vstack([ann.search(q[None], K)[0] for q in queries])
    recall = float(np.mean([len(set(a) & set(b)) / K for a, b in zip(found, truth, strict=True)]))
    ann_ms = latencies(ann, queries)
    flat_ms = latencies(flat, queries[:100])
    bar = recall >= 0.95 and np.median(ann_ms) < 5 and np.percentile(ann_ms, 99) < 5
    rows = [
        "| index | vectors | build (s) | recall@10 vs exact | median ms | p99 ms |",
        "|---|---:|---:|---:|---:|---:|",
        f"| {ann.kind} (M={config.hnsw_m}, efConstruction={config.ef_construction}, "
        f"efSearch={config.ef_search}) | {args.n:,} | {build_s:.0f} | {recall:.4f} | "
        f"{np.median(ann_ms):.3f} | {np.percentile(ann_ms, 99):.3f} |",
        f"| flat (exact, 100 queries) | {args.n:,} | - | 1.0000 | {np.median(flat_ms):.3f} | "
        f"{np.percentile(flat_ms, 99):.3f} |",
    ]
    text = (
        header("Vector index: HNSW against exact search")
        + f"\n{args.n:,} synthetic {DIM}-d unit vectors around 1,000 centres, {args.queries:,} "
        f"held-out queries from the same mixture, top-{K} by inner product. Build on "
        f"{args.build_threads} threads; every query timed alone on one thread.\n\n"
        + "\n".join(rows)
        + "\n\nBars (recall@10 >= 0.95, median and p99 < 5 ms): "
        + f"**{'met' if bar else 'NOT met'}**.\n"
    )
    write_result(RESULTS / "vector_index.md", text)
    print(text)


if __name__ == "__main__":
    main()
