"""``EmbeddingRecommender``: the answers a recommender gives in external ids, written once
over item/user vectors and id maps.

Two classes answer them: ``FittedRecommender`` (a trained model in memory: exact scores from
the model) and ``fusionrec.serve.BundleRecommender`` (an exported bundle: FAISS indexes over
the exported vectors). They differ only in where the vectors come from and how the best items
of a user or of an item are found (``_user_hits``, ``_nearest``, ``_load_view``,
``scoring_vectors``, ``dot_product``, ``views``, ``_item_columns``); everything else
(id lookup, views, fold-in and text preferences, "because" items, the result tables) is
here, so both answer the same question the same way.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from fusionrec.encoders.base import l2_normalize
from fusionrec.errors import ConfigError, DataError, ModelError
from fusionrec.evaluate import topk_lower_index_first
from fusionrec.tasks.diversify import (
    RATINGS,
    check_weight,
    mmr_order,
    pool_size,
    rating_similarity,
)
from fusionrec.tasks.explain import closest_items, largest_terms
from fusionrec.tasks.foldin import (
    FoldIn,
    TextToItemMap,
    embed_sentences,
    fold_in_scores,
    sentence_encoder,
)
from fusionrec.tasks.ids import check_k, lookup, read_pairs

#: Defaults chosen on validation users of movielens-100k-mm by
#: ``benchmarks/bench_text_preferences.py`` (see benchmarks/results/text_preferences.md).
DEFAULT_FOLD_IN: FoldIn = "least-squares"
DEFAULT_FOLD_IN_REG = 10.0
DEFAULT_TEXT_FOLD_IN: FoldIn = "mean"
DEFAULT_TEXT_REG = 1.0
DEFAULT_TEXT_ALPHA = 1.0

#: (item rows, scores) of one ranked answer, best first.
Hits = tuple[np.ndarray, np.ndarray]
T = TypeVar("T")


def top_k(scores: torch.Tensor, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values [rows, min(k, n_items)] of each row's best scores, best first."""
    if k < 1:
        raise ConfigError(f"k must be at least 1, got {k}")
    val, idx = topk_lower_index_first(scores, min(k, scores.shape[1]))
    return idx.numpy(), val.numpy()


def top_hits(scores: np.ndarray, k: int) -> Hits:
    """Item rows and scores of the best ``k`` finite scores of one row (ties: lower row
    first, the evaluator's rule); -inf marks items that must never be returned."""
    idx, val = top_k(torch.from_numpy(np.asarray(scores, dtype=np.float32))[None], k)
    keep = np.isfinite(val[0])
    return idx[0][keep], val[0][keep]


def first_of_each(rows: np.ndarray) -> np.ndarray:
    """``rows`` without repeats, in the order each first appears: a liked item given twice
    is one liked item (to a fold-in, to "because you liked"), as it is to item-item models."""
    _, first = np.unique(rows, return_index=True)
    return rows[np.sort(first)]


def _known(value: Any, index: dict[Any, int], kind: str) -> bool:
    try:
        lookup([value], index, kind)
    except DataError:
        return False
    return True


class EmbeddingRecommender(ABC):
    """Recommendations, similar items, new users and "because" items over item/user vectors.

    Subclasses set ``item_ids``, ``user_ids`` (external ids; row i of every item matrix
    belongs to ``item_ids[i]``) and ``text_encoder`` (the config section of the encoder that
    embedded the item text, or None), and call ``__init__`` with the id maps and the
    training interactions. Lazily built parts are built once, also under concurrent calls.
    """

    item_ids: np.ndarray
    user_ids: np.ndarray
    text_encoder: Any

    def __init__(
        self,
        item_index: dict[Any, int],
        user_index: dict[Any, int],
        train_matrix: sp.csr_matrix,
        seen_matrix: sp.csr_matrix | None = None,
    ) -> None:
        self._item_index = item_index
        self._user_index = user_index
        #: what the model learned from (explanations, which items are warm)
        self.train_matrix = train_matrix
        #: what ``exclude_seen`` masks: every item the user vectors reflect (default: train)
        self.seen_matrix = train_matrix if seen_matrix is None else seen_matrix
        self._lock = threading.RLock()  # a build may need another lazy part
        self._cache: dict[str, Any] = {}

    # -- what a subclass supplies --------------------------------------------------------
    @property
    @abstractmethod
    def model_name(self) -> str:
        """The model's registry name, for error messages."""

    @abstractmethod
    def views(self) -> list[str]:
        """The views ``similar_items`` and ``item_embeddings`` accept."""

    @abstractmethod
    def _load_view(self, view: str) -> tuple[np.ndarray, np.ndarray]:
        """(vectors [n_items, d], presence mask [n_items]) of an available ``view``."""

    @abstractmethod
    def scoring_vectors(self) -> tuple[np.ndarray, np.ndarray | None]:
        """(item vectors, user vectors or None) the model scores with."""

    @abstractmethod
    def dot_product(self) -> bool:
        """Whether the score is user vector . item vector (fold-in by vectors)."""

    def item_offsets(self) -> np.ndarray | None:
        """[n_items] term the score adds to user . item vectors (VBPR's item biases), where
        score = user . item + offset exactly; None for every other model."""
        return None

    @abstractmethod
    def _user_hits(
        self, users: np.ndarray, k: int, exclude_seen: bool, allowed: np.ndarray | None = None
    ) -> Iterator[Hits]:
        """The best ``k`` items of each user row in ``users``, one ``Hits`` per user; with
        ``exclude_seen`` never one of the user's training items; with ``allowed`` (a bool
        mask over the items) only allowed items."""

    @abstractmethod
    def _pair_scores(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """The model's score of item row ``items[j]`` for user row ``users[j]``, each j."""

    @abstractmethod
    def _nearest(self, view: str, item: int, k: int, allowed: np.ndarray | None = None) -> Hits:
        """The ``k`` items closest by cosine to item row ``item`` in ``view``, never the item
        itself nor an item without the view (nor one ``allowed`` leaves out)."""

    @abstractmethod
    def _item_columns(self) -> dict[str, np.ndarray]:
        """Per-item columns of every result table (title, image_path where known)."""

    def item_item_weights(self) -> np.ndarray | sp.csr_matrix | None:
        """W [n_items, n_items] of an item-item model (EASE, ItemKNN), whose score of an
        item is the sum of W's rows for the user's history; None for other models."""
        return None

    # -- shared machinery ----------------------------------------------------------------
    def _lazy(self, key: str, build: Callable[[], T]) -> T:
        """``build()`` once per key, also under concurrent first calls."""
        if key not in self._cache:
            with self._lock:
                if key not in self._cache:
                    self._cache[key] = build()
        return self._cache[key]

    def has_item(self, item_id: Any) -> bool:
        """Whether ``item_id`` is known (the id matching of ``item_rows``)."""
        return _known(item_id, self._item_index, "item")

    def has_user(self, user_id: Any) -> bool:
        """Whether ``user_id`` is known (the id matching of ``user_rows``)."""
        return _known(user_id, self._user_index, "user")

    def item_rows(self, ids: Iterable[Any]) -> np.ndarray:
        """Rows of external item ids; a ``DataError`` names every unknown one."""
        return lookup(ids, self._item_index, "item")

    def user_rows(self, ids: Iterable[Any]) -> np.ndarray:
        """Rows of external user ids; a ``DataError`` names every unknown one."""
        return lookup(ids, self._user_index, "user")

    def _item_table(self, rows: np.ndarray, scores: np.ndarray, score_name: str) -> pd.DataFrame:
        """item_id, score (and title, image_path where known) of item ``rows``."""
        frame = pd.DataFrame(
            {"item_id": self.item_ids[rows], score_name: np.asarray(scores, np.float64)}
        )
        for name, column in self._item_columns().items():
            frame[name] = column[rows]
        return frame

    def _ranked(self, hits: Hits, score_name: str = "score") -> pd.DataFrame:
        """One ranked answer as a table, ranks from 1."""
        frame = self._item_table(*hits, score_name)
        frame.insert(0, "rank", np.arange(1, len(frame) + 1))
        return frame

    # -- recommendations -----------------------------------------------------------------
    def recommend(
        self,
        user_ids: Any | Iterable[Any],
        k: int = 10,
        exclude_seen: bool = True,
        *,
        only: Iterable[Any] | None = None,
        exclude: Iterable[Any] | None = None,
        diversify: float = 0.0,
        diversify_by: str = RATINGS,
    ) -> pd.DataFrame:
        """Top ``k`` items per user: columns user_id, rank, item_id, score (+ title,
        image_path). ``exclude_seen`` masks the user's training items, so a recommendation
        never repeats what the model was trained on. ``only``: item ids to choose from (what
        is in stock, one category); ``exclude``: item ids never to return. Both keep the
        model's order among the items left. ``diversify`` (0 to 1) re-ranks the model's best
        items for a list of less alike items (maximal marginal relevance,
        ``fusionrec.tasks.diversify``), alike by co-rating or by the view ``diversify_by``
        names (text, image, fused); the score column stays the model's score."""
        users = self.user_rows(user_ids)  # one id or many
        allowed = self.allowed(only, exclude)
        hits = list(
            self.users_top(users, check_k(k), exclude_seen, allowed, diversify, diversify_by)
        )
        counts = np.array([len(rows) for rows, _ in hits], dtype=np.int64)
        rows = np.concatenate([np.zeros(0, np.int64), *(r for r, _ in hits)])
        scores = np.concatenate([np.zeros(0, np.float32), *(s for _, s in hits)])
        frame = self._item_table(rows, scores, "score")
        starts = np.repeat(np.cumsum(counts) - counts, counts)
        frame.insert(0, "rank", np.arange(len(rows)) - starts + 1)
        frame.insert(0, "user_id", self.user_ids[np.repeat(users, counts)])
        return frame

    def score(self, user_ids: Any | Iterable[Any], item_ids: Any | Iterable[Any]) -> np.ndarray:
        """The model's score of each (user, item) pair, in the order given: ``user_ids`` one
        id (every item scored for that user: re-ranking a candidate list from elsewhere) or
        one per item. The scores ``recommend`` ranks by, seen items included; comparable
        within a user, not calibrated across models."""
        users, items = self.user_rows(user_ids), self.item_rows(item_ids)
        if len(users) == 1 and len(items) != 1:
            users = np.repeat(users, len(items))
        if len(users) != len(items):
            raise ConfigError(
                f"score takes one user id, or one per item id: got {len(users)} user ids "
                f"for {len(items)} item ids"
            )
        return np.asarray(self._pair_scores(users, items), dtype=np.float32)

    def user_top(
        self,
        user: int,
        k: int = 10,
        exclude_seen: bool = True,
        allowed: np.ndarray | None = None,
        diversify: float = 0.0,
        diversify_by: str = RATINGS,
    ) -> Hits:
        """The best ``k`` items of user row ``user`` (among the ``allowed`` ones), re-ranked
        for diversity when ``diversify`` > 0 (as in ``recommend``)."""
        return next(
            self.users_top(np.array([user]), k, exclude_seen, allowed, diversify, diversify_by)
        )

    def users_top(
        self,
        users: np.ndarray,
        k: int,
        exclude_seen: bool = True,
        allowed: np.ndarray | None = None,
        diversify: float = 0.0,
        diversify_by: str = RATINGS,
    ) -> Iterator[Hits]:
        """The best ``k`` items of each user row; with ``diversify`` > 0, the MMR list drawn
        from the model's best ``pool_size(k)`` (the similarity checked before any scoring)."""
        weight = self._check_diversify(diversify, diversify_by)
        if not weight:
            yield from self._user_hits(users, k, exclude_seen, allowed)
            return
        for pool in self._user_hits(users, pool_size(k), exclude_seen, allowed):
            yield self._diversified(pool, k, weight, diversify_by)

    def _check_diversify(self, diversify: float, by: str) -> float:
        """The weight, with ``by`` checked before any scoring (an unknown view is an error
        naming this model's views)."""
        weight = check_weight(diversify)
        if weight and by != RATINGS:
            self.view_vectors(by)
        return weight

    def _diversified(self, pool: Hits, k: int, weight: float, by: str) -> Hits:
        """The MMR list of ``k`` from one answer's ``pool`` (best first)."""
        rows, scores = pool
        order = mmr_order(scores, self.item_similarity(rows, by), k, weight)
        return rows[order], scores[order]

    def item_similarity(self, rows: np.ndarray, by: str = RATINGS) -> np.ndarray:
        """[len(rows), len(rows)] cosine similarity of item ``rows``: of their training
        columns (``ratings``) or of their vectors in view ``by``. A pair with an item that
        lacks that content (a movie without a poster) takes its co-rating similarity
        instead: "similar to nothing" would make every such item look unlike the list and
        push them all up."""
        columns = self._lazy("train_columns", lambda: sp.csc_matrix(self.train_matrix))
        if by == RATINGS:
            return rating_similarity(columns, rows)
        _, present = self.view_vectors(by)
        unit = self.unit_vectors(by)[rows]
        similarity = unit @ unit.T
        has = present[rows]
        unknown = ~(has[:, None] & has[None, :])
        if unknown.any():
            similarity[unknown] = rating_similarity(columns, rows)[unknown]
        return similarity

    def allowed(
        self, only: Iterable[Any] | None = None, exclude: Iterable[Any] | None = None
    ) -> np.ndarray | None:
        """Bool mask of the items a recommendation may hold: those of ``only`` (default all)
        minus those of ``exclude``; None when neither is given. Unknown ids are an error."""
        if only is None and exclude is None:
            return None
        if isinstance(only, str) or isinstance(exclude, str):
            raise ConfigError("only= and exclude= take a list of item ids, not one string")
        mask = np.ones(len(self.item_ids), dtype=bool)
        if only is not None:
            mask[:] = False
            mask[self.item_rows(list(only))] = True
        if exclude is not None:
            mask[self.item_rows(list(exclude))] = False
        return mask

    # -- embeddings and similar items ----------------------------------------------------
    def view_vectors(self, view: str) -> tuple[np.ndarray, np.ndarray]:
        """(vectors, presence mask) of ``view``; a clear error for a view the model lacks."""
        available = self.views()
        if view not in available:
            raise ModelError(
                f"view '{view}' is not available for model '{self.model_name}'; "
                f"available views: {', '.join(available) or 'none'}"
            )
        return self._lazy(f"view:{view}", lambda: self._load_view(view))

    def item_embeddings(self, view: str = "behaviour") -> np.ndarray:
        """[n_items, d] item vectors of ``view`` (rows align with ``item_ids``)."""
        return self.view_vectors(view)[0]

    def unit_vectors(self, view: str) -> np.ndarray:
        """``item_embeddings(view)`` scaled to unit length (cosine = dot product)."""
        return self._lazy(f"unit:{view}", lambda: l2_normalize(self.item_embeddings(view)))

    def user_embeddings(self) -> np.ndarray:
        """[n_users, d] user vectors the model scores with (rows align with ``user_ids``):
        score = user . item vector, plus ``item_offsets()`` where the model has them."""
        _, users = self.scoring_vectors()
        if users is None:
            raise ModelError(f"model '{self.model_name}' has no user embeddings")
        return users

    def similar_top(
        self, item: int, k: int = 10, by: str | None = None, allowed: np.ndarray | None = None
    ) -> Hits:
        """The ``k`` items closest to item row ``item`` in view ``by`` (default: the view the
        model scores with, ``explain_view()``, as the served API has it). An item-item model
        (EASE, ItemKNN) scores with no item vectors: ``by`` must name a content view."""
        if by is None and self.item_item_weights() is not None:
            views = ", ".join(repr(v) for v in self.views()) or "none (no item features)"
            raise ModelError(
                f"model '{self.model_name}' scores by item-item weights, not item vectors, so "
                f"it has no view of its own to compare items in; pass by= one of: {views}"
            )
        by = by or self.explain_view()
        if by is None:
            raise ModelError(
                f"model '{self.model_name}' has no item vectors to compare items by; "
                "similar items need an embedding model or item features"
            )
        _, present = self.view_vectors(by)
        if not present[item]:
            raise ModelError(f"item '{self.item_ids[item]}' has no {by} features; try another view")
        return self._nearest(by, item, k, allowed)

    def similar_items(
        self,
        item_id: Any,
        k: int = 10,
        by: str | None = None,
        *,
        only: Iterable[Any] | None = None,
        exclude: Iterable[Any] | None = None,
    ) -> pd.DataFrame:
        """The ``k`` items closest to ``item_id`` by cosine similarity in view ``by``
        (behaviour, text, image, audio or fused; ``views()`` lists this model's; default: the
        view the model scores with, fused for multimodal models). ``only`` / ``exclude`` as
        in ``recommend``."""
        (item,) = self.item_rows([item_id])
        allowed = self.allowed(only, exclude)
        return self._ranked(self.similar_top(int(item), check_k(k), by, allowed), "similarity")

    # -- new users -----------------------------------------------------------------------
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
        allowed: np.ndarray | None = None,
        diversify: float = 0.0,
        diversify_by: str = RATINGS,
    ) -> Hits:
        """A new user's top ``k`` from liked item rows and/or a description, folded in
        together against the frozen item vectors (the description as one more liked
        pseudo-item, ``text_map``), among the ``allowed`` items. Without a method: the
        measured default for dot-product models, else the one method that needs no user
        vector. A sequential model given liked items alone and no method reads them as a
        history, oldest first (``history_vector``), as it reads a known user's.
        ``diversify`` / ``diversify_by`` as in ``recommend``."""
        weight = self._check_diversify(diversify, diversify_by)

        def best(scores: np.ndarray) -> Hits:
            if exclude_liked and len(liked):
                scores[liked] = -np.inf
            if allowed is not None:
                scores[~allowed] = -np.inf
            if not weight:
                return top_hits(scores, k)
            return self._diversified(top_hits(scores, pool_size(k)), k, weight, diversify_by)

        if method is None and text is None and len(liked):
            scores = self.history_scores(liked)
            if scores is None:
                user = self.history_vector(liked)
                scores = None if user is None else self.scoring_vectors()[0] @ user
            if scores is not None:
                return best(scores)
        items, _ = self.scoring_vectors()
        parts = [items[first_of_each(liked)]] if len(liked) else []  # a repeat is no stronger
        if text is not None:
            parts.append(self.text_map(alpha)(self.embed_text([text])))
        if not parts:
            raise ConfigError("give liked item ids, a description, or both")
        dot = self.dot_product()
        default = DEFAULT_FOLD_IN if len(liked) else DEFAULT_TEXT_FOLD_IN
        if reg is None:
            reg = DEFAULT_FOLD_IN_REG if len(liked) else DEFAULT_TEXT_REG
        method = method or (default if dot else "item-similarity")
        return best(fold_in_scores(items, np.vstack(parts), method, reg, dot_product=dot))

    def history_scores(self, liked: np.ndarray) -> np.ndarray | None:
        """Every item's score for a new user who liked item rows ``liked``, from a model
        that scores the interaction row itself (EASE, ItemKNN: exactly as it scores a known
        user); None for models that need a user vector."""
        w = self.item_item_weights()
        if w is None:
            return None
        return np.asarray(w[np.unique(liked)].sum(axis=0), np.float32).ravel()

    def history_vector(self, history: np.ndarray) -> np.ndarray | None:
        """[d] vector a sequential model scores a user with whose history is the item rows
        ``history``, oldest first; None for a model that does not read order."""
        return None

    def history_embedding(self, history: Iterable[Any]) -> np.ndarray:
        """The user vector of an ordered history of item ids (oldest first), encoded at
        call time by a sequential model: a representation of a user the model never saw,
        in the space of ``user_embeddings()`` (score = it . item vectors)."""
        rows = self.item_rows(history)
        if len(rows) == 0:
            raise ConfigError("history_embedding needs at least one item id")
        vector = self.history_vector(rows)
        if vector is None:
            raise ModelError(
                f"model '{self.model_name}' does not encode ordered histories; use a "
                "sequential model (gru4rec, sasrec, mmsasrec), or recommend_for_items to fold "
                "the items in"
            )
        return vector

    def recommend_for_items(
        self,
        liked: Iterable[Any],
        k: int = 10,
        *,
        method: FoldIn | None = None,
        reg: float = DEFAULT_FOLD_IN_REG,
        exclude_liked: bool = True,
        only: Iterable[Any] | None = None,
        exclude: Iterable[Any] | None = None,
        diversify: float = 0.0,
        diversify_by: str = RATINGS,
    ) -> pd.DataFrame:
        """Recommendations for a user not in training who liked ``liked`` (item ids), by
        fold-in against the frozen item vectors (no retraining; methods in
        ``fusionrec.tasks.foldin``); a sequential model without ``method`` encodes them as
        a history, oldest first. ``only`` / ``exclude`` / ``diversify`` as in
        ``recommend``."""
        rows = self.item_rows(liked)  # one id or many
        if len(rows) == 0:
            raise ConfigError("give at least one liked item id")
        allowed = self.allowed(only, exclude)
        hits = self.preference_top(
            rows, None, check_k(k), method=method, reg=reg, exclude_liked=exclude_liked,
            allowed=allowed, diversify=diversify, diversify_by=diversify_by,
        )  # fmt: skip
        return self._ranked(hits)

    def recommend_for_histories(
        self,
        histories: pd.DataFrame | str | Path,
        k: int = 10,
        *,
        only: Iterable[Any] | None = None,
        exclude: Iterable[Any] | None = None,
        diversify: float = 0.0,
        diversify_by: str = RATINGS,
    ) -> pd.DataFrame:
        """``recommend_for_items`` for many users the model never saw, at once: a table or
        file (csv, tsv, parquet, jsonl) of ``user_id``, ``item_id`` rows, each user's rows
        their history (in ``timestamp`` order where the table has one, else in table order:
        a sequential model reads the order). The user ids only label the answers; a training
        user's id is not looked up, their rows here are all that is used. Columns and
        ``diversify`` as in ``recommend``."""
        frame, where = read_pairs(histories, "the histories table")
        if "timestamp" in frame.columns:
            frame = frame.sort_values("timestamp", kind="stable")
        rows = self.item_rows(frame["item_id"])  # every unknown id named, before any work
        allowed, k = self.allowed(only, exclude), check_k(k)
        users, answers = [], []
        for user, positions in frame.groupby("user_id", sort=False).indices.items():
            users.append(user)
            answers.append(
                self.preference_top(
                    rows[positions],
                    None,
                    k,
                    allowed=allowed,
                    diversify=diversify,
                    diversify_by=diversify_by,
                )  # fmt: skip
            )
        if not answers:
            raise DataError(f"{where}: no rows; give at least one user_id, item_id row")
        table = pd.concat([self._ranked(hits) for hits in answers], ignore_index=True)
        counts = [len(hits[0]) for hits in answers]
        table.insert(0, "user_id", np.repeat(np.array(users, dtype=object), counts))
        return table

    def recommend_for_text(
        self,
        text: str,
        k: int = 10,
        *,
        alpha: float = DEFAULT_TEXT_ALPHA,
        method: FoldIn | None = None,
        reg: float = DEFAULT_TEXT_REG,
        only: Iterable[Any] | None = None,
        exclude: Iterable[Any] | None = None,
        diversify: float = 0.0,
        diversify_by: str = RATINGS,
    ) -> pd.DataFrame:
        """Recommendations for a new user who describes what they like: the sentence is
        embedded, mapped into the recommender's item space (``text_map``) and folded in as
        one liked pseudo-item. ``only`` / ``exclude`` / ``diversify`` as in ``recommend``."""
        if not isinstance(text, str):
            raise ConfigError(f"the description must be a string, got {type(text).__name__}")
        none = np.zeros(0, np.int64)
        allowed = self.allowed(only, exclude)
        return self._ranked(
            self.preference_top(
                none,
                text,
                check_k(k),
                method=method,
                reg=reg,
                alpha=alpha,
                allowed=allowed,
                diversify=diversify,
                diversify_by=diversify_by,
            )  # fmt: skip
        )

    def text_map(self, alpha: float = DEFAULT_TEXT_ALPHA) -> TextToItemMap:
        """The ridge map from item text features to scoring vectors, fitted on training
        items that have text."""

        def build() -> TextToItemMap:
            if "text" not in self.views():
                raise ConfigError(
                    "this run has no text features; fit (and export) a run with "
                    "features=['text', ...] to recommend from a description"
                )
            text, mask = self.view_vectors("text")
            warm = np.asarray(self.train_matrix.sum(axis=0)).ravel() > 0
            rows = np.flatnonzero(warm & mask)
            return TextToItemMap(text, self.scoring_vectors()[0], rows, alpha)

        return self._lazy(f"text_map:{alpha}", build)

    def embed_text(self, texts: list[str]) -> np.ndarray:
        """Texts embedded by the encoder that embedded the items' text (loaded once)."""
        if self.text_encoder is None:
            raise ConfigError(
                "this run's item text was not encoded by a text encoder (no text features, "
                "or pre-computed ones), so a description cannot be embedded in the same space"
            )

        def build() -> Any:
            encoder = sentence_encoder(self.text_encoder)
            embed_sentences(encoder, ["warm-up"])  # load its model once, under the lock
            return encoder

        return embed_sentences(self._lazy("encoder", build), texts)

    # -- explanations --------------------------------------------------------------------
    def explain_view(self) -> str | None:
        """The view "because" items are found in: the one the model scores with (fused for
        multimodal models, behaviour for id models), else the first content view."""
        views = self.views()
        return "fused" if "fused" in views else next(iter(views), None)

    def because(
        self, pool: np.ndarray, items: np.ndarray, n: int = 3
    ) -> tuple[Sequence[np.ndarray], Sequence[np.ndarray]]:
        """Per item row of ``items``, the (up to ``n``) rows of ``pool`` (e.g. the user's
        training items) most similar to it in ``explain_view()``, and their cosines: one
        row of each answer per item. For an item-item model, the rows of ``pool`` whose terms
        W[j, i] add most to the item's score (positive terms only), and those terms: the
        score itself, not a similarity standing in for it."""
        pool, items = first_of_each(np.asarray(pool, np.int64)), np.asarray(items, np.int64)
        w = self.item_item_weights()
        view = self.explain_view()
        if (w is None and view is None) or not len(pool) or not len(items):
            return np.zeros((len(items), 0), np.int64), np.zeros((len(items), 0), np.float32)
        if w is not None:
            return largest_terms(w, pool, items, n)
        return closest_items(self.unit_vectors(view), pool, items, n)
