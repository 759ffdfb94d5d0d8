"""``BundleRecommender``: the ``FittedRecommender`` API over an exported bundle.

Both are ``fusionrec.tasks.base.EmbeddingRecommender``s, so they share every method
(recommend, similar_items, recommend_for_items, recommend_for_text, item_embeddings, ...)
and the computations behind them; a bundle differs only in where its vectors come from (the
bundle's arrays, no training code, no dataset files) and in finding a user's or an item's
best items with its FAISS indexes instead of exact scores. It adds catalogue search and
sentiment. A sequential model's bundle carries its exported history encoder, so a new user's
ordered history is encoded at request time (``history_vector``), as ``FittedRecommender``
encodes it with the model. An item-item model's bundle (EASE, ItemKNN) carries its W instead
of vectors: a user's scores are their history row times W, exact, as the run computes them.
Ids are the dataset's ids as strings ("1", "u42", "0669361001"); integers are accepted.
Thread-safe: arrays and indexes are read-only, lazy parts are built under a lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from fusionrec.data.sequences import Sequences
from fusionrec.errors import ConfigError
from fusionrec.serve.bundle import DOT, DOT_OFFSET, ITEM_ITEM, read_manifest
from fusionrec.serve.index import VectorIndex
from fusionrec.tasks.base import EmbeddingRecommender, Hits, top_hits
from fusionrec.tasks.views import added_in_history, no_item_embeddings


class BundleRecommender(EmbeddingRecommender):
    """A loaded serving bundle; build with ``BundleRecommender.load(folder)``."""

    def __init__(self, folder: str | Path, manifest: dict[str, Any]) -> None:
        self.folder = Path(folder)
        self.manifest = manifest
        self.item_ids = np.load(self.folder / "item_ids.npy", allow_pickle=False)
        self.user_ids = np.load(self.folder / "user_ids.npy", allow_pickle=False)
        shape = (len(self.user_ids), len(self.item_ids))
        self.scoring = manifest.get("scoring", DOT)  # format 1 bundles: always dot
        self.item_vectors: np.ndarray | None = None
        self.user_vectors: np.ndarray | None = None
        self.offsets: np.ndarray | None = None
        self._item_item: np.ndarray | sp.csr_matrix | None = None
        self.history: sp.csr_matrix | None = None
        if self.scoring == ITEM_ITEM:
            dense = self.folder / "scoring/item_item.npy"
            square = (shape[1], shape[1])
            # mapped, not read: worker processes (``serve --workers``) share its pages
            self._item_item = (
                np.load(dense, allow_pickle=False, mmap_mode="r")
                if dense.exists()
                else _read_csr(self.folder / "scoring/item_item.npz", square)
            )
            self.history = _read_csr(self.folder / "scoring/history.npz", shape)
        else:
            self.item_vectors = np.load(self.folder / "scoring/items.npy", allow_pickle=False)
            self.user_vectors = np.load(self.folder / "scoring/users.npy", allow_pickle=False)
            if self.scoring == DOT_OFFSET:
                self.offsets = np.load(self.folder / "scoring/offsets.npy", allow_pickle=False)
        seen = _read_csr(self.folder / "seen.npz", shape)
        train = self.folder / "train.npz"  # absent from bundles exported before it was added
        super().__init__(
            {k: i for i, k in enumerate(self.item_ids.tolist())},
            {k: i for i, k in enumerate(self.user_ids.tolist())},
            _read_csr(train, shape) if train.exists() else seen,
            seen,
        )
        self.items = pd.read_parquet(self.folder / "items.parquet")
        self.titles = self.items["title"].astype(object).where(self.items["title"].notna(), None)
        self.images = self.items["image"].astype(object).where(self.items["image"].notna(), None)
        self._views = {
            view: (
                np.load(self.folder / f"views/{view}.npy", allow_pickle=False),
                np.load(self.folder / f"views/{view}.mask.npy", allow_pickle=False),
            )
            for view in manifest["views"]
        }
        self.indexes = {
            name: VectorIndex.load(self.folder / "index" / name, kind)
            for name, kind in manifest["index"].items()
        }
        config = manifest.get("text_encoder")
        if config is None:
            self.text_encoder = None
        else:
            from fusionrec.encoders.config import parse_features_config

            self.text_encoder = parse_features_config({"text": config}).text

    @classmethod
    def load(cls, folder: str | Path, verify: bool = True) -> BundleRecommender:
        """Open a bundle, refusing a partial or corrupt one (``read_manifest``)."""
        return cls(folder, read_manifest(folder, verify=verify))

    # -- where the vectors come from: the bundle's arrays --------------------------------
    @property
    def model_name(self) -> str:
        return str(self.manifest["model"])

    def views(self) -> list[str]:
        return list(self.manifest["views"])

    def _load_view(self, view: str) -> tuple[np.ndarray, np.ndarray]:
        return self._views[view]

    def scoring_vectors(self) -> tuple[np.ndarray, np.ndarray | None]:
        if self.item_vectors is None:
            raise no_item_embeddings(self.model_name)
        return self.item_vectors, self.user_vectors

    def dot_product(self) -> bool:
        # export refuses a vector model that does not score by user . item (+ offset)
        return self.scoring == DOT

    def item_offsets(self) -> np.ndarray | None:
        return self.offsets

    def _item_columns(self) -> dict[str, np.ndarray]:
        return {"title": self.titles.to_numpy(), "image_path": self.images.to_numpy()}

    # -- how the best items are found: the FAISS indexes ---------------------------------
    def _index_top(self, name: str, query: np.ndarray, k: int, exclude: np.ndarray) -> Hits:
        """Best ``k`` of an index, never one of ``exclude``; ties lower row first."""
        if k < 1:
            raise ConfigError(f"k must be at least 1, got {k}")
        items, scores = self.indexes[name].search(query, k + len(exclude))
        items, scores = items[0], scores[0]
        keep = (items >= 0) & ~np.isin(items, exclude)
        items, scores = items[keep], scores[keep]
        order = np.lexsort((items, -scores))[:k]
        return items[order], scores[order]

    def _user_hits(
        self, users: np.ndarray, k: int, exclude_seen: bool, allowed: np.ndarray | None = None
    ) -> Iterator[Hits]:
        """Item-item bundles: exact scores. Vector bundles: the FAISS index, which skips the
        seen and the excluded items, or exact scores for a short allow-list (``_blocked``)."""
        blocked, indexed = self._blocked(allowed)
        exact = self._item_item is not None or not indexed
        for user in users:
            seen = self.seen_matrix[user].indices if exclude_seen else np.zeros(0, np.int64)
            if not exact:
                yield self._index_top("scoring", self._query(user), k, np.union1d(seen, blocked))
                continue
            if self._item_item is None:
                scores = self.item_vectors @ self.user_vectors[user]
                if self.offsets is not None:
                    scores = scores + self.offsets
            else:
                product = self.history[user] @ self._item_item  # [1, n_items]
                product = product.toarray() if sp.issparse(product) else product
                scores = np.asarray(product, np.float32).ravel()
            scores = np.array(scores, dtype=np.float32)  # a private copy to mask
            scores[seen] = -np.inf
            scores[blocked] = -np.inf
            yield top_hits(scores, k)

    def _pair_scores(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Vector bundles: user . item (+ offset), pair by pair. Item-item bundles: each
        distinct user's history row times the pairs' columns of W."""
        if self._item_item is None:
            scores = np.einsum("ij,ij->i", self.user_vectors[users], self.item_vectors[items])
            return scores if self.offsets is None else scores + self.offsets[items]
        out = np.empty(len(users), np.float32)
        order = np.argsort(users, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(users[order]) != 0])
        for first, end in zip(starts, np.r_[starts[1:], len(order)], strict=True):
            mine = order[first:end]
            product = self.history[users[mine[0]]] @ self._item_item[:, items[mine]]
            product = product.toarray() if sp.issparse(product) else product
            out[mine] = np.asarray(product, np.float32).ravel()
        return out

    def _query(self, user: int) -> np.ndarray:
        """What the ``scoring`` index is searched with: the user's vector (and a 1 for the
        offset coordinate of a ``dot+offset`` bundle, whose index holds [item, offset])."""
        query = self.user_vectors[user]
        return query if self.offsets is None else np.append(query, np.float32(1))

    def item_item_weights(self) -> np.ndarray | sp.csr_matrix | None:
        return self._item_item

    def _blocked(self, allowed: np.ndarray | None) -> tuple[np.ndarray, bool]:
        """The item rows ``allowed`` leaves out, and whether an index search should skip them:
        yes for up to half the catalogue; past that (a short allow-list) the search would
        read most of the index only to drop it, so the allowed items are scored exactly."""
        blocked = np.zeros(0, np.int64) if allowed is None else np.flatnonzero(~allowed)
        return blocked, 2 * len(blocked) <= len(self.item_ids)

    def _nearest(self, view: str, item: int, k: int, allowed: np.ndarray | None = None) -> Hits:
        """The view's FAISS index, skipping the item and the blocked ones, or exact cosines
        for a short allow-list (``_blocked``)."""
        unit = self.unit_vectors(view)
        blocked, indexed = self._blocked(allowed)
        if indexed:
            return self._index_top(f"view-{view}", unit[item][None], k, np.union1d([item], blocked))
        sims = unit @ unit[item]
        sims[~self.view_vectors(view)[1]] = -np.inf
        sims[[item, *blocked]] = -np.inf
        return top_hits(sims, k)

    # -- search and sentiment --------------------------------------------------------------
    def history_vector(self, history: np.ndarray) -> np.ndarray | None:
        spec = self.manifest.get("history")
        if spec is None:
            return None

        def build() -> Any:
            return torch.export.load(self.folder / spec["file"]).module()

        if (history >= spec["pad"]).any():  # the trained items come first; pad is their count
            raise added_in_history(self.model_name)
        encoder = self._lazy("history", build)
        window = Sequences.single(history).recent(np.array([0]), spec["max_length"], spec["pad"])
        with torch.no_grad():
            return encoder(torch.from_numpy(window))[0].numpy()

    def search_top(self, query: str, by: str | None = None, k: int = 10) -> Hits:
        """Best ``k`` items for ``query`` by ``by`` (default: the index's ``default_way``)."""
        searcher = self.searcher()
        by = by or searcher.default_way
        if by not in searcher.ways:
            raise ConfigError(f"unknown by={by!r}: use one of {', '.join(searcher.ways)}")
        return self._index_top(f"search-{by}", searcher.embed_queries([query]), k, np.zeros(0))

    def searcher(self) -> Any:
        """The bundle's ``CatalogueSearch`` (a ``ConfigError`` when it has none)."""
        if not self.manifest.get("search"):
            raise ConfigError(
                "this bundle has no catalogue search (its run lacks encoder text or images)"
            )
        from fusionrec.tasks.search import CatalogueSearch

        def build() -> CatalogueSearch:
            searcher = CatalogueSearch.load(self.folder / "search")
            searcher.embed_queries(["warm-up"])  # load the text encoder once, under the lock
            return searcher

        return self._lazy("search", build)

    def sentiment(self, text: str, item_id: str | None = None) -> dict[str, Any]:
        """Label, its probability, all class probabilities and the star rating of a review."""
        if not self.manifest.get("sentiment"):
            raise ConfigError("this bundle has no sentiment model; export it with one")
        from fusionrec.tasks.sentiment import load_sentiment_model

        model = self._lazy("sentiment", lambda: load_sentiment_model(self.folder / "sentiment"))
        row = model.predict([text], items=[item_id]).iloc[0]
        classes = ("negative", "neutral", "positive")
        return {
            "label": str(row["label"]),
            "probability": float(row["probability"]),
            "probabilities": {c: float(row[f"p_{c}"]) for c in classes},
            "stars": float(row["rating"]),
        }

    def search(self, query: str, by: str | None = None, k: int = 10) -> pd.DataFrame:
        """Top ``k`` catalogue items for a text query (``fusionrec.tasks.search``)."""
        return self._ranked(self.search_top(query, by, k))


def load_bundle(folder: str | Path) -> BundleRecommender:
    """The checked bundle ``folder`` as a ``BundleRecommender``."""
    return BundleRecommender.load(folder)


def _read_csr(path: Path, shape: tuple[int, int]) -> sp.csr_matrix:
    """A CSR matrix stored as ``indptr``/``indices`` (and ``data``; without it, binary)."""
    with np.load(path, allow_pickle=False) as stored:
        indices, indptr = stored["indices"], stored["indptr"]
        data = stored["data"] if "data" in stored else np.ones(len(indices), np.float32)
    return sp.csr_matrix((data, indices, indptr), shape=shape)
