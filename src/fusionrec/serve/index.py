"""FAISS vector indexes over item vectors: exact for small catalogues, HNSW for large ones.

Every index ranks by inner product (cosine when the vectors are unit length). An index
holds only the rows it was built from (``rows``: e.g. the items that have an image), and
answers in those item rows, so an item without the view can never be returned.

Which kind: ``auto`` picks ``flat`` (exact, brute force: a 100,000 x 64 scan takes about a
millisecond) up to ``exact_max`` vectors and ``hnsw`` above, where a graph search keeps a
query at a few milliseconds with recall@10 above 0.95 against exact
(``benchmarks/bench_index.py``, ``benchmarks/results/vector_index.md``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from fusionrec.errors import ConfigError
from fusionrec.io import write_atomic, write_npy

IndexKind = Literal["auto", "flat", "hnsw"]


class IndexConfig(BaseModel):
    """How item vectors are indexed (``fusionrec export --index-kind``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: IndexKind = "auto"
    #: ``auto`` builds an exact index up to this many vectors, HNSW above.
    exact_max: int = Field(100_000, ge=1)
    #: HNSW graph degree, build-time and query-time candidate list sizes.
    hnsw_m: int = Field(16, ge=4)
    ef_construction: int = Field(80, ge=8)
    ef_search: int = Field(128, ge=8)

    def resolve(self, n: int) -> str:
        """The concrete kind for ``n`` vectors."""
        if self.kind != "auto":
            return self.kind
        return "flat" if n <= self.exact_max else "hnsw"


def _faiss():  # type: ignore[no-untyped-def]
    import faiss

    return faiss


class VectorIndex:
    """Inner-product top-k over a subset ``rows`` of a catalogue's items."""

    def __init__(self, index: object, rows: np.ndarray, kind: str) -> None:
        self.index = index
        self.rows = rows
        self.kind = kind

    @classmethod
    def build(
        cls,
        vectors: np.ndarray,
        rows: np.ndarray | None = None,
        config: IndexConfig | None = None,
    ) -> VectorIndex:
        """Index ``vectors[rows]`` (all rows by default)."""
        faiss = _faiss()
        config = config or IndexConfig()
        rows = np.arange(len(vectors)) if rows is None else np.asarray(rows, dtype=np.int64)
        data = np.ascontiguousarray(vectors[rows], dtype=np.float32)
        kind = config.resolve(len(rows))
        if kind == "flat":
            index = faiss.IndexFlatIP(data.shape[1])
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(data.shape[1], config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = config.ef_construction
            index.hnsw.efSearch = config.ef_search
        else:
            raise ConfigError(f"index kind {kind!r}: choose auto, flat or hnsw")
        if len(data):
            index.add(data)
        return cls(index, rows, kind)

    def __len__(self) -> int:
        return len(self.rows)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Item rows [n, k] and scores [n, k] of each query's best ``k``, best first; rows
        are -1 (score -inf) past the end of a small index."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = max(1, min(k, len(self.rows)))
        if not len(self.rows):
            return np.full((len(queries), 0), -1), np.zeros((len(queries), 0), np.float32)
        scores, labels = self.index.search(queries, k)
        found = labels >= 0
        items = np.where(found, self.rows[np.maximum(labels, 0)], -1)
        return items, np.where(found, scores, -np.inf).astype(np.float32)

    def save(self, path: str | Path) -> list[Path]:
        """``<path>.faiss`` and ``<path>.rows.npy``, each written atomically."""
        faiss = _faiss()
        path = Path(path)
        index_file = path.with_name(f"{path.name}.faiss")
        write_atomic(index_file, lambda tmp: faiss.write_index(self.index, str(tmp)))
        rows_file = write_npy(path.with_name(f"{path.name}.rows.npy"), self.rows)
        return [index_file, rows_file]

    @classmethod
    def load(cls, path: str | Path, kind: str) -> VectorIndex:
        faiss = _faiss()
        path = Path(path)
        index = faiss.read_index(str(path.with_name(f"{path.name}.faiss")))
        rows = np.load(path.with_name(f"{path.name}.rows.npy"), allow_pickle=False)
        return cls(index, rows, kind)
