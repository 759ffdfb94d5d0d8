"""``FittedRecommender``: a trained model with its dataset, answering in external ids.

Made by ``fusionrec.fit`` or ``fusionrec.load``. Every method takes and returns the dataset's
own ids (``"u42"``, ``1682``, ``"0669361001"``), never internal indices.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from fusionrec.data import Dataset, Split
from fusionrec.data.split import VALID
from fusionrec.errors import ModelError
from fusionrec.evaluate import mask_seen
from fusionrec.models.base import Recommender, TrainData
from fusionrec.models.item_item import ItemItemRecommender
from fusionrec.tasks.base import EmbeddingRecommender, Hits, top_hits, top_k
from fusionrec.tasks.explain import ModalityAblation, shares
from fusionrec.tasks.new_items import WithNewItems, add_items
from fusionrec.tasks.views import (
    available_views,
    is_dot_product,
    item_view,
    score_offsets,
    scoring_vectors,
    view_mask,
)

_BLOCK = 4096


@dataclass
class Explanation:
    """Why ``item_id`` scores ``score`` for ``user_id``.

    ``because``: the user's training items most similar to the item in ``view``, the view
    the model scores with (``fused`` for multimodal models, ``behaviour`` for id models; the
    first content view for a model without item vectors, none when it has no view at all),
    columns item_id, similarity (cosine), title where known; for an item-item model (EASE,
    ItemKNN; ``view`` ``item-item``) the training items whose terms W[j, i] add most to the
    score, column weight instead of similarity. ``parts``: the score split
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


def seen_items(split: Split | None, dataset: Dataset, train: sp.csr_matrix) -> sp.csr_matrix:
    """Training and validation items per user: what ``exclude_seen`` masks, as the evaluator
    masks both when it scores test. A sequential model's user vectors are encoded from the
    training and validation history, so masking training items alone recommended the item a
    user had just watched (the validation item topped 273 of 943 users' lists)."""
    if split is None:
        return train
    seen = train + split.matrix(dataset, VALID)
    seen.data[:] = 1.0
    return seen.tocsr()


class FittedRecommender(EmbeddingRecommender):
    """A trained recommender over one dataset and split (training part = what it saw):
    exact scores from the model itself. The answers are ``EmbeddingRecommender``'s."""

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
        train = data.train_matrix.tocsr()
        super().__init__(
            dataset.item_index(), dataset.user_index(), train, seen_items(split, dataset, train)
        )
        self.model = model.eval()
        self.data = data
        self.dataset = dataset
        self.split = split
        self.features = data.features
        self.run_dir = Path(run_dir) if run_dir is not None else None
        #: the config section of the text encoder items were embedded with (None: none).
        self.text_encoder = text_encoder
        #: the recommender as trained, when this one has items added after training
        self.trained: FittedRecommender | None = None

    @property
    def item_ids(self) -> np.ndarray:
        """External item ids; row i of every item matrix here belongs to ``item_ids[i]``."""
        return self.dataset.item_ids

    @property
    def user_ids(self) -> np.ndarray:
        return self.dataset.user_ids

    @property
    def model_name(self) -> str:
        return self.model.name

    def _item_columns(self) -> dict[str, np.ndarray]:
        items, image = self.dataset.items, self.dataset.image_column
        title = self.dataset.title_column
        columns = {"title": items[title].to_numpy()} if title else {}
        if image and image in items.columns:
            columns["image_path"] = items[image].to_numpy()
        return columns

    # -- where the vectors come from: the model ------------------------------------------
    def views(self) -> list[str]:
        return list(self._lazy("views", lambda: available_views(self.model, self.features)))

    def _load_view(self, view: str) -> tuple[np.ndarray, np.ndarray]:
        vectors = item_view(self.model, self.features, view)
        return vectors, view_mask(self.features, view, vectors)

    def scoring_vectors(self) -> tuple[np.ndarray, np.ndarray | None]:
        return self._lazy("scoring", lambda: scoring_vectors(self.model))

    def dot_product(self) -> bool:
        def check() -> bool:
            try:
                vectors = self.scoring_vectors()
            except ModelError:  # no item vectors (EASE, ItemKNN): no product to take
                return False
            return is_dot_product(self.model, *vectors)

        return self._lazy("dot", check)

    def item_offsets(self) -> np.ndarray | None:
        def check() -> np.ndarray | None:
            offsets = score_offsets(self.model)
            if offsets is None:
                return None
            items, users = self.scoring_vectors()
            return offsets if is_dot_product(self.model, items, users, offsets) else None

        return self._lazy("offsets", check)

    # -- how the best items are found: exact scores --------------------------------------
    def _user_hits(
        self, users: np.ndarray, k: int, exclude_seen: bool, allowed: np.ndarray | None = None
    ) -> Iterator[Hits]:
        """The model's full score rows, in blocks, masked with the evaluator's masking."""
        blocked = None if allowed is None else torch.from_numpy(~allowed)
        for start in range(0, len(users), _BLOCK):
            block = users[start : start + _BLOCK]
            with torch.no_grad():
                scores = self.model.score(torch.from_numpy(block).to(self.data.device)).float()
            scores = scores.clone()
            if exclude_seen:
                mask_seen(scores, self.seen_matrix, block)
            if blocked is not None:
                scores[:, blocked.to(scores.device)] = -torch.inf
            idx, val = top_k(scores.cpu(), k)
            keep = np.isfinite(val)
            yield from zip(
                (row[ok] for row, ok in zip(idx, keep, strict=True)),
                (row[ok] for row, ok in zip(val, keep, strict=True)),
                strict=True,
            )

    def _pair_scores(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Each distinct user's full score row once (in blocks), read at the pairs' items."""
        unique, position = np.unique(users, return_inverse=True)
        out = np.empty(len(users), np.float32)
        for start in range(0, len(unique), _BLOCK):
            block = unique[start : start + _BLOCK]
            with torch.no_grad():
                rows = self.model.score(torch.from_numpy(block).to(self.data.device))
            rows = rows.float().cpu().numpy()
            mine = (position >= start) & (position < start + len(block))
            out[mine] = rows[position[mine] - start, items[mine]]
        return out

    def _nearest(self, view: str, item: int, k: int, allowed: np.ndarray | None = None) -> Hits:
        unit = self.unit_vectors(view)
        sims = unit @ unit[item]
        sims[~self.view_vectors(view)[1]] = -np.inf
        sims[item] = -np.inf
        if allowed is not None:
            sims[~allowed] = -np.inf
        return top_hits(sims, k)

    def item_item_weights(self) -> np.ndarray | sp.csr_matrix | None:
        if isinstance(self.model, WithNewItems):
            return self.model.item_item
        return self.model.item_item if isinstance(self.model, ItemItemRecommender) else None

    # -- new items -----------------------------------------------------------------------
    def add_items(
        self,
        items: pd.DataFrame | str | Path,
        k: int | None = None,
        progress: bool = False,
    ) -> FittedRecommender:
        """This recommender with ``items`` added to its catalogue, no retraining: a table or
        file (csv, tsv, parquet, jsonl) with ``item_id`` and the item table's content columns
        (the dataset's text fields, ``image_path``). Each new item is scored as the
        similarity-weighted mean of its ``k`` (default 50) nearest trained items in content
        (``fusionrec.tasks.new_items``); it is recommended, searched and exported like any
        other. This recommender is left as it is."""
        model, data, dataset = add_items(
            self.model, self.data, self.dataset, self.run_dir, items, k, progress
        )
        extended = FittedRecommender(
            model,
            data,
            dataset,
            split=self.split,
            text_encoder=self.text_encoder,
            run_dir=self.run_dir,
        )
        extended.trained = self
        return extended

    @property
    def added_item_ids(self) -> np.ndarray:
        """Ids of the items ``add_items`` added after training (none for a trained one)."""
        trained = self if self.trained is None else self.trained
        return self.item_ids[trained.dataset.n_items :]

    # -- new users -----------------------------------------------------------------------
    def history_vector(self, history: np.ndarray) -> np.ndarray | None:
        if not self.model.sequential:
            return None
        return self.model.encode_history(history).float().cpu().numpy()

    # -- explanations --------------------------------------------------------------------
    def explain(self, user_id: Any, item_id: Any, n: int = 5) -> Explanation:
        """The ``n`` training items of the user most similar to ``item_id`` in the scoring
        view, and the score's parts from behaviour and each modality."""
        (user,) = self.user_rows([user_id])
        (item,) = self.item_rows([item_id])
        if self.trained is not None:  # items were added: the trained model explains its own
            if item >= self.trained.dataset.n_items:
                raise ModelError(
                    f"item '{item_id}' was added after training: its score is the weighted "
                    "mean of its content neighbours' scores, not the model's own, so it has "
                    "no parts to show"
                )
            return self.trained.explain(user_id, item_id, n)
        ablation = self._lazy("ablation", lambda: ModalityAblation(self.model, self.data))
        parts, additive = ablation.parts(int(user), np.array([item]))
        scalar = {name: float(v[0]) for name, v in parts.items()}
        near, sims = self.because(self.train_matrix[user].indices, np.array([item]), n)
        item_item = self.item_item_weights() is not None
        because = self._item_table(near[0], sims[0], "weight" if item_item else "similarity")
        with torch.no_grad():
            u = torch.tensor([user], device=self.data.device)
            i = torch.tensor([item], device=self.data.device)
            score = float(self.model.score(u, i)[0, 0])
        view = "item-item" if item_item else self.explain_view()
        return Explanation(
            user_id, item_id, score, view, because, scalar, shares(scalar), bool(additive)
        )
