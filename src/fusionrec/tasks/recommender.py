"""``FittedRecommender``: a trained model with its dataset, answering in external ids.

Made by ``fusionrec.fit`` or ``fusionrec.load``. Every method takes and returns the dataset's
own ids (``"u42"``, ``1682``, ``"0669361001"``), never internal indices.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from fusionrec.data import Dataset, Split
from fusionrec.encoders.base import l2_normalize
from fusionrec.errors import ConfigError, ModelError
from fusionrec.evaluate import mask_seen, topk_lower_index_first
from fusionrec.models.base import Recommender, TrainData
from fusionrec.tasks.explain import ModalityAblation, closest_items, shares
from fusionrec.tasks.foldin import (
    FoldIn,
    TextToItemMap,
    embed_sentences,
    fold_in_scores,
    sentence_encoder,
)
from fusionrec.tasks.ids import lookup
from fusionrec.tasks.views import (
    available_views,
    is_dot_product,
    item_view,
    scoring_vectors,
    view_mask,
)

#: Defaults chosen on validation users of movielens-100k-mm by
#: ``benchmarks/bench_text_preferences.py`` (see benchmarks/results/text_preferences.md).
DEFAULT_FOLD_IN: FoldIn = "least-squares"
DEFAULT_FOLD_IN_REG = 10.0
DEFAULT_TEXT_FOLD_IN: FoldIn = "mean"
DEFAULT_TEXT_REG = 1.0
DEFAULT_TEXT_ALPHA = 1.0
_BLOCK = 4096


@dataclass
class Explanation:
    """Why ``item_id`` scores ``score`` for ``user_id``.

    ``because``: the user's training items most similar to the item in ``view``, the view
    the model scores with (``fused`` for multimodal models, ``behaviour`` for id models; the
    first content view for a model without item vectors, none when it has no view at all),
    columns item_id, similarity (cosine), title where known. ``parts``: the score split
    into behaviour and each modality (they sum to ``score``); ``shares`` the same as signed
    fractions; ``additive``: whether the split is exact (see ``fusionrec.tasks.explain``).
    """

    user_id: Any
    item_id: Any
    score: float
    view: str | None
    because: pd.DataFrame
    parts: dict[str, float]
    shares: dict[str, float]
    additive: bool


class FittedRecommender:
    """A trained recommender over one dataset and split (training part = what it saw)."""

    def __init__(
        self,
        model: Recommender,
        data: TrainData,
        dataset: Dataset,
        *,
        split: Split | None = None,
        text_encoder: Any = None,
        run_dir: str | Path | None = None,
    ) -> None:
        self.model = model.eval()
        self.data = data
        self.dataset = dataset
        self.split = split
        self.features = data.features
        self.train_matrix = data.train_matrix.tocsr()
        self.run_dir = Path(run_dir) if run_dir is not None else None
        #: the config section of the text encoder items were embedded with (None: none).
        self.text_encoder = text_encoder
        self._item_index = dataset.item_index()
        self._user_index = dataset.user_index()
        self._cache: dict[str, Any] = {}

    # -- ids and item information --------------------------------------------------------
    @property
    def item_ids(self) -> np.ndarray:
        """External item ids; row i of every item matrix here belongs to ``item_ids[i]``."""
        return self.dataset.item_ids

    @property
    def user_ids(self) -> np.ndarray:
        return self.dataset.user_ids

    def _items(self, ids: Iterable[Any]) -> np.ndarray:
        return lookup(ids, self._item_index, "item")

    def _item_table(self, idx: np.ndarray, scores: np.ndarray, score_name: str) -> pd.DataFrame:
        """item_id, score (and title, image_path where the item table has them)."""
        frame = pd.DataFrame({"item_id": self.item_ids[idx], score_name: scores})
        items = self.dataset.items
        if "title" in items.columns:
            frame["title"] = items["title"].to_numpy()[idx]
        image = self.dataset.image_column
        if image and image in items.columns:
            frame["image_path"] = items[image].to_numpy()[idx]
        return frame

    def _ranked_frame(
        self, scores: torch.Tensor, k: int, score_name: str = "score"
    ) -> tuple[pd.DataFrame, np.ndarray]:
        """Top ``k`` of each score row (-inf entries never recommended), ranked from 1, and
        the row each line belongs to."""
        idx, val = top_k(scores, k)
        keep = np.isfinite(val)
        rows, ranks = np.nonzero(keep)
        frame = self._item_table(idx[keep], val[keep], score_name)
        frame.insert(0, "rank", ranks + 1)
        return frame, rows

    def _ranked(self, scores: np.ndarray, k: int, score_name: str = "score") -> pd.DataFrame:
        row = torch.from_numpy(np.asarray(scores, dtype=np.float32))[None]
        return self._ranked_frame(row, k, score_name)[0]

    # -- recommendations -----------------------------------------------------------------
    def recommend(
        self, user_ids: Any | Iterable[Any], k: int = 10, exclude_seen: bool = True
    ) -> pd.DataFrame:
        """Top ``k`` items per user: columns user_id, rank, item_id, score (+ title,
        image_path). ``exclude_seen`` masks the user's training items with the evaluator's
        masking, so a recommendation never repeats what the model was trained on."""
        ids = [user_ids] if isinstance(user_ids, str | int | np.integer) else list(user_ids)
        users = lookup(ids, self._user_index, "user")
        frames = []
        for start in range(0, len(users), _BLOCK):
            block = users[start : start + _BLOCK]
            with torch.no_grad():
                scores = self.model.score(torch.from_numpy(block).to(self.data.device)).float()
            scores = scores.clone()
            if exclude_seen:
                mask_seen(scores, self.train_matrix, block)
            frame, rows = self._ranked_frame(scores.cpu(), k)
            frame.insert(0, "user_id", self.user_ids[block[rows]])
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    # -- embeddings and similar items ----------------------------------------------------
    def views(self) -> list[str]:
        """The views ``similar_items`` and ``item_embeddings`` accept for this model."""
        return available_views(self.model, self.features)

    def item_embeddings(self, view: str = "behaviour") -> np.ndarray:
        """[n_items, d] item vectors of ``view`` (rows align with ``item_ids``)."""
        if view not in self._cache:
            self._cache[view] = item_view(self.model, self.features, view)
        return self._cache[view]

    def user_embeddings(self) -> np.ndarray:
        """[n_users, d] user vectors the model scores with (rows align with ``user_ids``)."""
        _, users = self.scoring_vectors()
        if users is None:
            raise ModelError(f"model '{self.model.name}' has no user embeddings")
        return users

    def similar_items(self, item_id: Any, k: int = 10, by: str = "behaviour") -> pd.DataFrame:
        """The ``k`` items closest to ``item_id`` by cosine similarity in view ``by``
        (behaviour, text, image, audio or fused; ``views()`` lists this model's)."""
        vectors = self.item_embeddings(by)
        present = view_mask(self.features, by, self.dataset.n_items)
        (index,) = self._items([item_id])
        if not present[index]:
            raise ModelError(f"item {item_id!r} has no {by} features; try another view")
        unit = l2_normalize(vectors)
        sims = unit @ unit[index]
        sims[~present] = -np.inf
        sims[index] = -np.inf
        return self._ranked(sims, k, "similarity")

    # -- new users -----------------------------------------------------------------------
    def scoring_vectors(self) -> tuple[np.ndarray, np.ndarray | None]:
        """(item vectors, user vectors or None) the model scores with; see ``views``."""
        if "scoring" not in self._cache:
            self._cache["scoring"] = scoring_vectors(self.model)
        return self._cache["scoring"]

    def dot_product(self) -> bool:
        """Whether the model's score is user vector . item vector (fold-in by vectors)."""
        if "dot" not in self._cache:
            self._cache["dot"] = is_dot_product(self.model, *self.scoring_vectors())
        return self._cache["dot"]

    def _fold_in(
        self, liked: np.ndarray, method: FoldIn | None, reg: float, default: FoldIn
    ) -> np.ndarray:
        """Fold-in scores; without a method, ``default`` for dot-product models, else the
        one method that needs no user vector."""
        method = method or (default if self.dot_product() else "item-similarity")
        items, _ = self.scoring_vectors()
        return fold_in_scores(items, liked, method, reg, dot_product=self.dot_product())

    def recommend_for_items(
        self,
        liked: Iterable[Any],
        k: int = 10,
        *,
        method: FoldIn | None = None,
        reg: float = DEFAULT_FOLD_IN_REG,
        exclude_liked: bool = True,
    ) -> pd.DataFrame:
        """Recommendations for a user not in training who liked ``liked`` (item ids), by
        fold-in against the frozen item vectors (no retraining; methods in
        ``fusionrec.tasks.foldin``). A sequential model (``sasrec``...) without a ``method``
        instead reads ``liked`` as the user's history in order, oldest first, and encodes it
        as it encodes a known user's."""
        idx = self._items(liked)
        if len(idx) == 0:
            raise ConfigError("recommend_for_items needs at least one liked item id")
        if self.model.sequential and method is None:
            with torch.no_grad():
                user = self.model.encode_history(idx)
                scores = (self.model.item_embeddings() @ user).float().cpu().numpy()
        else:
            scores = self._fold_in(self.scoring_vectors()[0][idx], method, reg, DEFAULT_FOLD_IN)
        if exclude_liked:
            scores[idx] = -np.inf
        return self._ranked(scores, k)

    def text_map(self, alpha: float = DEFAULT_TEXT_ALPHA) -> TextToItemMap:
        """The ridge map from item text features to scoring vectors, fitted on training
        items that have text."""
        key = f"text_map:{alpha}"
        if key not in self._cache:
            if self.features is None or "text" not in self.features:
                raise ConfigError(
                    "this run has no text features; fit with features=['text', ...] "
                    "to recommend from a description"
                )
            text = self.features["text"]
            warm = np.asarray(self.train_matrix.sum(axis=0)).ravel() > 0
            rows = np.flatnonzero(warm & text.mask)
            self._cache[key] = TextToItemMap(text.matrix, self.scoring_vectors()[0], rows, alpha)
        return self._cache[key]

    def embed_text(self, texts: list[str]) -> np.ndarray:
        """Texts embedded by the encoder that embedded the items' text."""
        if self.text_encoder is None:
            raise ConfigError(
                "this run's item text was not encoded by a text encoder (no text features, "
                "or pre-computed ones), so a description cannot be embedded in the same space"
            )
        if "encoder" not in self._cache:
            self._cache["encoder"] = sentence_encoder(self.text_encoder)
        return embed_sentences(self._cache["encoder"], texts)

    def recommend_for_text(
        self,
        text: str,
        k: int = 10,
        *,
        alpha: float = DEFAULT_TEXT_ALPHA,
        method: FoldIn | None = None,
        reg: float = DEFAULT_TEXT_REG,
    ) -> pd.DataFrame:
        """Recommendations for a new user who describes what they like: the sentence is
        embedded, mapped into the recommender's item space (``text_map``) and folded in as
        one liked pseudo-item."""
        pseudo = self.text_map(alpha)(self.embed_text([text]))
        return self._ranked(self._fold_in(pseudo, method, reg, DEFAULT_TEXT_FOLD_IN), k)

    # -- explanations --------------------------------------------------------------------
    def explain(self, user_id: Any, item_id: Any, n: int = 5) -> Explanation:
        """The ``n`` training items of the user most similar to ``item_id`` in the scoring
        view, and the score's parts from behaviour and each modality."""
        (user,) = lookup([user_id], self._user_index, "user")
        (item,) = self._items([item_id])
        if "ablation" not in self._cache:
            self._cache["ablation"] = ModalityAblation(self.model, self.data)
        parts, additive = self._cache["ablation"].parts(int(user), np.array([item]))
        scalar = {name: float(v[0]) for name, v in parts.items()}
        seen = self.train_matrix[user].indices
        view = "fused" if "fused" in self.views() else next(iter(self.views()), None)
        near, sims = seen[:0], np.zeros(0, dtype=np.float32)
        if view is not None:
            unit = l2_normalize(self.item_embeddings(view))
            (near,), (sims,) = closest_items(unit, seen, np.array([item]), n)
        because = self._item_table(near, sims, "similarity")
        with torch.no_grad():
            u = torch.tensor([user], device=self.data.device)
            i = torch.tensor([item], device=self.data.device)
            score = float(self.model.score(u, i)[0, 0])
        return Explanation(
            user_id, item_id, score, view, because, scalar, shares(scalar), bool(additive)
        )


def top_k(scores: torch.Tensor, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values [rows, min(k, n_items)] of each row's best scores, best first."""
    if k < 1:
        raise ConfigError(f"k must be at least 1, got {k}")
    val, idx = topk_lower_index_first(scores, min(k, scores.shape[1]))
    return idx.numpy(), val.numpy()
