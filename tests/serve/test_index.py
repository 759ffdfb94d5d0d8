"""The vector index: exact top-k on a catalogue of movielens-100k-mm's size, HNSW close to
exact on a larger one, the kind chosen by size unless configured, rows mapped back."""

from __future__ import annotations

import numpy as np
import pytest

from fusionrec.serve.index import IndexConfig, VectorIndex


def exact(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    scores = queries @ vectors.T
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def test_exact_index_equals_brute_force_top_k_at_movielens_size():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(1682, 64)).astype(np.float32)  # movielens-100k-mm's items
    queries = rng.normal(size=(200, 64)).astype(np.float32)
    index = VectorIndex.build(vectors)
    assert index.kind == "flat"
    rows, scores = index.search(queries, 10)
    np.testing.assert_array_equal(rows, exact(vectors, queries, 10))
    np.testing.assert_allclose(
        scores, np.sort(queries @ vectors.T, axis=1)[:, ::-1][:, :10], rtol=1e-5
    )


def test_hnsw_recall_against_exact():
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(10_000, 32)).astype(np.float32)
    queries = rng.normal(size=(200, 32)).astype(np.float32)
    index = VectorIndex.build(vectors, config=IndexConfig(kind="hnsw"))
    assert index.kind == "hnsw"
    rows, _ = index.search(queries, 10)
    truth = exact(vectors, queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(rows, truth, strict=True)])
    assert recall >= 0.95, recall


def test_kind_by_size_and_override():
    assert IndexConfig().resolve(100_000) == "flat"
    assert IndexConfig().resolve(100_001) == "hnsw"
    assert IndexConfig(exact_max=10).resolve(11) == "hnsw"
    assert IndexConfig(kind="flat").resolve(10**7) == "flat"
    with pytest.raises(ValueError):
        IndexConfig(kind="lsh")


def test_subset_rows_map_back_and_small_index_pads(tmp_path):
    vectors = np.eye(6, dtype=np.float32)
    index = VectorIndex.build(vectors, rows=np.array([1, 4]))
    rows, scores = index.search(vectors[4], 5)
    assert rows.tolist() == [[4, 1]] and scores[0, 0] == pytest.approx(1.0)
    index.save(tmp_path / "x")
    again = VectorIndex.load(tmp_path / "x", index.kind)
    assert again.search(vectors[1], 1)[0].tolist() == [[1]]
