"""Inputs of the sentiment classifiers: review text features and item/reviewer context.

- ``embed_reviews``: the language-model embedding of each review (all-MiniLM-L6-v2 by
  default), cached by the feature store, so cross-validation and re-runs embed a corpus once.
- ``ContextTables``: per item and per reviewer, the mean embedding, mean star rating, class
  shares and count of their reviews IN THE TRAINING ROWS ONLY. A training row's own review is
  left out of its context (leave-one-out); otherwise its own rating would sit in its features
  and the model would learn to trust the context more than it deserves on unseen reviews.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fusionrec.encoders.config import SentenceTransformerText

#: Numbers per side (item or reviewer) besides the mean embedding.
STAT_NAMES = ("mean_rating", "share_negative", "share_neutral", "share_positive", "log_count")


def text_encoder(model: str | None = None):  # -> BaseEncoder (imported lazily)
    """The sentence-transformer encoder the LM classifiers use (cheap until first encode)."""
    from fusionrec.encoders.registry import make_encoder

    config = SentenceTransformerText() if model is None else SentenceTransformerText(model=model)
    return make_encoder(config)


def embed_reviews(
    texts: Sequence[str], model: str | None = None, cache_dir: str | Path | None = None
) -> np.ndarray:
    """``[len(texts), dim]`` unit-norm embeddings, read from or written to the feature store."""
    from fusionrec.encoders.store import FeatureStore, fingerprint_texts

    encoder = text_encoder(model)
    result = FeatureStore(cache_dir).compute(
        "reviews", encoder, list(texts), fingerprint_texts(texts), chunk_size=2048
    )
    return result.matrix


@dataclass
class Standardizer:
    """z-scores with the training rows' mean and std (std 0 -> 1), so one L2 strength suits
    embeddings (entries ~0.05) and context numbers (ratings, counts) alike."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> Standardizer:
        std = x.std(axis=0)
        return cls(x.mean(axis=0), np.where(std > 1e-8, std, 1.0))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.std).astype(np.float32)


@dataclass
class _Side:
    """Sums over one id column (item or user) of the training rows."""

    ids: np.ndarray  # str, sorted
    emb_sum: np.ndarray  # [n_ids, dim]
    rating_sum: np.ndarray  # [n_ids]
    rating_count: np.ndarray  # [n_ids] rows with a rating
    class_count: np.ndarray  # [n_ids, 3]

    @classmethod
    def fit(
        cls, keys: np.ndarray, emb: np.ndarray, ratings: np.ndarray, labels: np.ndarray
    ) -> _Side:
        known = keys != ""
        ids, index = np.unique(keys[known], return_inverse=True)
        n = len(ids)
        emb_sum = np.zeros((n, emb.shape[1]), np.float64)
        np.add.at(emb_sum, index, emb[known])
        rated = ~np.isnan(ratings[known])
        rating_sum = np.bincount(index[rated], ratings[known][rated], minlength=n)
        rating_count = np.bincount(index[rated], minlength=n).astype(float)
        class_count = np.zeros((n, 3))
        np.add.at(class_count, (index, labels[known]), 1.0)
        return cls(ids, emb_sum, rating_sum, rating_count, class_count)

    def features(
        self,
        keys: np.ndarray,
        emb: np.ndarray,
        ratings: np.ndarray,
        labels: np.ndarray,
        own: bool,
        global_rating: float,
    ) -> np.ndarray:
        """Mean embedding + STAT_NAMES per row; ``own`` rows are in the sums (left out)."""
        pos = np.searchsorted(self.ids, keys)
        found = (pos < len(self.ids)) & (keys != "")
        found[found] = self.ids[pos[found]] == keys[found]
        pos = np.where(found, pos, len(self.ids))  # unknown ids read an appended zero row

        def rows(table: np.ndarray) -> np.ndarray:
            return np.concatenate([table, np.zeros((1, *table.shape[1:]))])[pos]

        emb_sum, class_count = rows(self.emb_sum), rows(self.class_count)
        rating_sum, rating_count = rows(self.rating_sum), rows(self.rating_count)
        if own:  # leave the row's own review out of its context
            rated = found & ~np.isnan(ratings)
            emb_sum = emb_sum - np.where(found[:, None], emb, 0.0)
            class_count = class_count - np.where(found[:, None], np.eye(3)[labels], 0.0)
            rating_sum = rating_sum - np.where(rated, np.nan_to_num(ratings), 0.0)
            rating_count = rating_count - rated
        count = class_count.sum(axis=1)
        mean_emb = emb_sum / np.maximum(count, 1.0)[:, None]
        mean_rating = np.where(
            rating_count > 0, rating_sum / np.maximum(rating_count, 1.0), global_rating
        )
        shares = class_count / np.maximum(count, 1.0)[:, None]
        stats = np.column_stack([mean_rating - global_rating, shares, np.log1p(count)])
        return np.hstack([mean_emb, stats]).astype(np.float32)


@dataclass
class ContextTables:
    """Item and reviewer context learnt from training rows; see the module docstring."""

    item: _Side
    user: _Side
    global_rating: float
    #: listing id -> the product id the tables know it by (``Reviews.item_aliases``)
    item_aliases: dict[str, str] = field(default_factory=dict)

    @classmethod
    def fit(cls, frame: pd.DataFrame, emb: np.ndarray) -> ContextTables:
        ratings = frame["rating"].to_numpy(dtype=float)
        labels = frame["label"].to_numpy(dtype=np.int64)
        rated = ratings[~np.isnan(ratings)]
        global_rating = float(rated.mean()) if len(rated) else 3.0
        return cls(
            _Side.fit(_keys(frame["item"]), emb, ratings, labels),
            _Side.fit(_keys(frame["user"]), emb, ratings, labels),
            global_rating,
        )

    def features(self, frame: pd.DataFrame, emb: np.ndarray, own: bool) -> np.ndarray:
        """``[rows, 2 * (dim + 5)]``: item context then reviewer context.

        ``own=True`` only for the very rows the tables were fitted on (leave-one-out); rows
        of any other review use the full training sums and never enter them.
        """
        ratings = frame["rating"].to_numpy(dtype=float)
        labels = frame["label"].to_numpy(dtype=np.int64) if own else np.zeros(len(frame), int)
        items = _keys(frame["item"])
        if self.item_aliases:
            items = pd.Series(items).replace(self.item_aliases).to_numpy(dtype=str)
        parts = [
            side.features(keys, emb, ratings, labels, own, self.global_rating)
            for side, keys in ((self.item, items), (self.user, _keys(frame["user"])))
        ]
        return np.hstack(parts)

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"global_rating": np.asarray(self.global_rating)}
        for name, side in (("item", self.item), ("user", self.user)):
            for attr in ("ids", "emb_sum", "rating_sum", "rating_count", "class_count"):
                out[f"{name}_{attr}"] = np.asarray(getattr(side, attr))
        out["item_alias_from"] = np.asarray(list(self.item_aliases), dtype=str)
        out["item_alias_to"] = np.asarray(list(self.item_aliases.values()), dtype=str)
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> ContextTables:
        sides = {
            name: _Side(
                *(
                    arrays[f"{name}_{a}"]
                    for a in ("ids", "emb_sum", "rating_sum", "rating_count", "class_count")
                )
            )
            for name in ("item", "user")
        }
        aliases = zip(  # absent from models saved before aliases were kept
            arrays.get("item_alias_from", ()), arrays.get("item_alias_to", ()), strict=True
        )
        return cls(
            sides["item"],
            sides["user"],
            float(arrays["global_rating"]),
            {str(a): str(b) for a, b in aliases},
        )


def _keys(column: pd.Series) -> np.ndarray:
    """Ids as strings; a missing id becomes "" (no context), never matching a real id."""
    return column.fillna("").astype(str).to_numpy(dtype=str)
