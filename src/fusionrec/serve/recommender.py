"""``BundleRecommender``: the ``FittedRecommender`` API over an exported bundle.

Same method names and signatures (recommend, similar_items, recommend_for_items,
recommend_for_text, plus search), answering from the bundle's arrays and FAISS indexes
instead of a model: no training code, no dataset files. The computations are the Python
API's own (``fusionrec.tasks``: fold-in, the text-to-item map, sentence embedding, search
query embedding, "because" items, the top-k tie rule), so a bundle answers as the run does.
Ids are the dataset's ids as strings ("1", "u42", "0669361001"); integers are accepted.
Thread-safe: arrays and indexes are read-only, lazy parts are built under a lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from fusionrec.encoders.base import l2_normalize
from fusionrec.errors import ConfigError, ModelError
from fusionrec.serve.bundle import read_manifest
from fusionrec.serve.index import VectorIndex
from fusionrec.tasks.explain import closest_items
from fusionrec.tasks.foldin import (
    FoldIn,
    TextToItemMap,
    embed_sentences,
    fold_in_scores,
    sentence_encoder,
)
from fusionrec.tasks.ids import lookup
from fusionrec.tasks.recommender import (
    DEFAULT_FOLD_IN,
    DEFAULT_FOLD_IN_REG,
    DEFAULT_TEXT_ALPHA,
    DEFAULT_TEXT_FOLD_IN,
    DEFAULT_TEXT_REG,
    top_k,
)

Hits = tuple[np.ndarray, np.ndarray]


def _top(scores: np.ndarray, k: int) -> Hits:
    """Item rows and scores of the best ``k`` finite scores (the facade's tie rule)."""
    idx, val = top_k(torch.from_numpy(np.asarray(scores, dtype=np.float32))[None], k)
    keep = np.isfinite(val[0])
    return idx[0][keep], val[0][keep]


class BundleRecommender:
    """A loaded serving bundle; build with ``BundleRecommender.load(folder)``."""

    def __init__(self, folder: str | Path, manifest: dict[str, Any]) -> None:
        self.folder = Path(folder)
        self.manifest = manifest
        arrays = {
            name: np.load(self.folder / name, allow_pickle=False)
            for name in ("item_ids.npy", "user_ids.npy", "scoring/items.npy", "scoring/users.npy")
        }
        self.item_ids: np.ndarray = arrays["item_ids.npy"]
        self.user_ids: np.ndarray = arrays["user_ids.npy"]
        self.item_vectors, self.user_vectors = (
            arrays["scoring/items.npy"],
            arrays["scoring/users.npy"],
        )
        with np.load(self.folder / "seen.npz", allow_pickle=False) as seen:
            indices, indptr = seen["indices"], seen["indptr"]
        self.train_matrix = sp.csr_matrix(
            (np.ones(len(indices), np.float32), indices, indptr),
            shape=(len(self.user_ids), len(self.item_ids)),
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
        self._item_index = {k: i for i, k in enumerate(self.item_ids.tolist())}
        self._user_index = {k: i for i, k in enumerate(self.user_ids.tolist())}
        self._lock = threading.Lock()
        self._cache: dict[str, Any] = {}

    @classmethod
    def load(cls, folder: str | Path, verify: bool = True) -> BundleRecommender:
        """Open a bundle, refusing a partial or corrupt one (``read_manifest``)."""
        return cls(folder, read_manifest(folder, verify=verify))

    # -- ids -----------------------------------------------------------------------------
    def has_item(self, item_id: Any) -> bool:
        return str(item_id) in self._item_index

    def has_user(self, user_id: Any) -> bool:
        return str(user_id) in self._user_index

    def item_rows(self, ids: Iterable[Any]) -> np.ndarray:
        return lookup([str(i) for i in ids], self._item_index, "item")

    def user_rows(self, ids: Iterable[Any]) -> np.ndarray:
        return lookup([str(i) for i in ids], self._user_index, "user")

    def views(self) -> list[str]:
        return list(self.manifest["views"])

    def _lazy(self, key: str, build: Any) -> Any:
        """``build()`` once per key, also under concurrent first requests."""
        if key not in self._cache:
            with self._lock:
                if key not in self._cache:
                    self._cache[key] = build()
        return self._cache[key]

    # -- array-level answers (the HTTP app uses these) -----------------------------------
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

    def user_top(self, user: int, k: int = 10, exclude_seen: bool = True) -> Hits:
        seen = self.train_matrix[user].indices if exclude_seen else np.zeros(0, np.int64)
        return self._index_top("scoring", self.user_vectors[user], k, seen)

    def similar_top(self, item: int, k: int = 10, by: str = "behaviour") -> Hits:
        if by not in self._views:
            raise ModelError(
                f"view '{by}' is not available for model '{self.manifest['model']}'; "
                f"available views: {', '.join(self.views()) or 'none'}"
            )
        vectors, mask = self._views[by]
        if not mask[item]:
            raise ModelError(f"item {self.item_ids[item]!r} has no {by} features; try another view")
        query = l2_normalize(vectors[item][None])
        return self._index_top(f"view-{by}", query, k, np.array([item]))

    def preference_top(
        self,
        liked: np.ndarray,
        text: str | None = None,
        k: int = 10,
        *,
        method: FoldIn | None = None,
        reg: float | None = None,
        alpha: float = DEFAULT_TEXT_ALPHA,
        exclude_liked: bool = True,
    ) -> Hits:
        """A new user's top ``k`` from liked item rows and/or a description, folded in
        together (the description as one more liked pseudo-item)."""
        parts = [self.item_vectors[liked]] if len(liked) else []
        if text is not None:
            parts.append(self.text_map(alpha)(self.embed_text([text])))
        if not parts:
            raise ConfigError("give liked item ids, a description, or both")
        default = DEFAULT_FOLD_IN if len(liked) else DEFAULT_TEXT_FOLD_IN
        if reg is None:
            reg = DEFAULT_FOLD_IN_REG if len(liked) else DEFAULT_TEXT_REG
        scores = fold_in_scores(
            self.item_vectors, np.vstack(parts), method or default, reg, dot_product=True
        )
        if exclude_liked and len(liked):
            scores[liked] = -np.inf
        return _top(scores, k)

    def search_top(self, query: str, by: str = "image", k: int = 10) -> Hits:
        searcher = self.searcher()
        if by not in searcher.ways:
            raise ConfigError(f"unknown by={by!r}: use one of {', '.join(searcher.ways)}")
        return self._index_top(f"search-{by}", searcher.embed_queries([query]), k, np.zeros(0))

    def because(self, pool: np.ndarray, items: np.ndarray, n: int = 3) -> list[np.ndarray]:
        """Per item of ``items``, the (up to ``n``) rows of ``pool`` most similar to it in the
        view ``FittedRecommender.explain`` uses (fused for multimodal models)."""
        view = self.manifest.get("explain_view")
        if view is None or not len(pool) or not len(items):
            return [pool[:0] for _ in items]
        unit = self._lazy(f"unit:{view}", lambda: l2_normalize(self._views[view][0]))
        near, _ = closest_items(unit, np.asarray(pool), np.asarray(items), n)
        return list(near)

    # -- lazily loaded parts -------------------------------------------------------------
    def text_map(self, alpha: float = DEFAULT_TEXT_ALPHA) -> TextToItemMap:
        """The facade's ridge map from item text features to scoring vectors, fitted on
        training items with text (refitted from the bundle's arrays on first use)."""

        def build() -> TextToItemMap:
            if "text" not in self._views:
                raise ConfigError(
                    "this bundle's run has no text features; export a run fitted with "
                    "features=['text', ...] to recommend from a description"
                )
            text, mask = self._views["text"]
            warm = np.asarray(self.train_matrix.sum(axis=0)).ravel() > 0
            return TextToItemMap(text, self.item_vectors, np.flatnonzero(warm & mask), alpha)

        return self._lazy(f"text_map:{alpha}", build)

    def embed_text(self, texts: list[str]) -> np.ndarray:
        """Texts embedded by the encoder that embedded the items' text."""
        config = self.manifest.get("text_encoder")
        if config is None:
            raise ConfigError(
                "this bundle's item text was not encoded by a text encoder (no text features, "
                "or pre-computed ones), so a description cannot be embedded in the same space"
            )

        def build() -> Any:
            from fusionrec.encoders.config import parse_features_config

            return sentence_encoder(parse_features_config({"text": config}).text)

        return embed_sentences(self._lazy("encoder", build), texts)

    def searcher(self) -> Any:
        """The bundle's ``CatalogueSearch`` (a ``ConfigError`` when it has none)."""
        if not self.manifest.get("search"):
            raise ConfigError(
                "this bundle has no catalogue search (its run lacks encoder text or images)"
            )
        from fusionrec.tasks.search import CatalogueSearch

        return self._lazy("search", lambda: CatalogueSearch.load(self.folder / "search"))

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

    # -- the FittedRecommender API (DataFrames in external ids) --------------------------
    def _frame(self, rows: np.ndarray, scores: np.ndarray, score_name: str) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "rank": np.arange(1, len(rows) + 1),
                "item_id": self.item_ids[rows],
                score_name: scores.astype(np.float64),
                "title": self.titles.to_numpy()[rows],
                "image_path": self.images.to_numpy()[rows],
            }
        )

    def recommend(
        self, user_ids: Any | Iterable[Any], k: int = 10, exclude_seen: bool = True
    ) -> pd.DataFrame:
        """Top ``k`` items per user: user_id, rank, item_id, score, title, image_path."""
        ids = [user_ids] if isinstance(user_ids, str | int | np.integer) else list(user_ids)
        frames = []
        for user in self.user_rows(ids):
            frame = self._frame(*self.user_top(int(user), k, exclude_seen), "score")
            frame.insert(0, "user_id", self.user_ids[user])
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    def similar_items(self, item_id: Any, k: int = 10, by: str = "behaviour") -> pd.DataFrame:
        (item,) = self.item_rows([item_id])
        return self._frame(*self.similar_top(int(item), k, by), "similarity")

    def recommend_for_items(
        self,
        liked: Iterable[Any],
        k: int = 10,
        *,
        method: FoldIn | None = None,
        reg: float = DEFAULT_FOLD_IN_REG,
        exclude_liked: bool = True,
    ) -> pd.DataFrame:
        rows = self.item_rows(liked)
        if len(rows) == 0:
            raise ConfigError("recommend_for_items needs at least one liked item id")
        hits = self.preference_top(
            rows, None, k, method=method, reg=reg, exclude_liked=exclude_liked
        )
        return self._frame(*hits, "score")

    def recommend_for_text(
        self,
        text: str,
        k: int = 10,
        *,
        alpha: float = DEFAULT_TEXT_ALPHA,
        method: FoldIn | None = None,
        reg: float = DEFAULT_TEXT_REG,
    ) -> pd.DataFrame:
        hits = self.preference_top(
            np.zeros(0, np.int64), text, k, method=method, reg=reg, alpha=alpha
        )
        return self._frame(*hits, "score")

    def search(self, query: str, by: str = "image", k: int = 10) -> pd.DataFrame:
        return self._frame(*self.search_top(query, by, k), "score")


def load_bundle(folder: str | Path) -> BundleRecommender:
    """The checked bundle ``folder`` as a ``BundleRecommender``."""
    return BundleRecommender.load(folder)
