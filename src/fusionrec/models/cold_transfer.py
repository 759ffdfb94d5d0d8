"""Cold-item transfer: any embedding model scores never-seen items through their content
neighbours.

A collaborative model learns nothing about an item nobody interacted with: its id vector is
still the random initialisation. This wrapper trains the ``base`` model unchanged and, when
scoring, replaces each cold item's vector by the similarity-weighted mean of the vectors of
its ``k`` nearest *warm* items in content space (cosine of centred, per-modality
L2-normalised features, as in ``content-knn``). The cold item thus inherits the
collaborative signal its look-alikes earned, which a fixed content space alone
(``content-knn``) cannot express and a content tower trained on ~1k warm items tends to
overfit. It is the neighbourhood idea of item-based cold start (e.g. Sarwar et al.'s item
kNN applied across the content graph, and the modality kNN graphs of LATTICE/FREEDOM) used
as a post-hoc, model-agnostic step.

Warm items keep the base model's vectors exactly, so with ``content_weight`` 0 warm
accuracy is the base model's. Works for every base whose score is
``user_embeddings() @ item_embeddings().T``; this is checked when the wrapper is built.

``content_weight`` > 0 adds the content-only score of ``content-knn`` (both scores
standardised per user): the transfer knows what the user's collaborative taste says about
items like this one, content-knn how close the item's own text is to what the user watched.
On movielens-100k-mm the validation cold items chose a content weight of 0.5 in four of five
cold splits (``benchmarks/results/cold_start.md``). The exported embeddings are the
transferred vectors only; the content term is added when scoring.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pydantic
import torch

from fusionrec.errors import ConfigError, ModelError
from fusionrec.models.base import (
    Params,
    Recommender,
    TrainData,
    build_model,
    model_class,
    register,
    validate_params,
)
from fusionrec.models.content_knn import content_matrix

log = logging.getLogger(__name__)


class ColdTransferParams(Params):
    #: the model that is trained and scores warm items
    base: str = "lightgcn"
    base_params: dict[str, Any] = pydantic.Field(default_factory=dict)
    #: warm content neighbours averaged into each cold item's vector
    k: int = pydantic.Field(50, ge=1)
    #: modalities that define content similarity (None = all available)
    modalities: list[str] | None = None
    #: weight of a content-only score (``content-knn``: the user's mean training-item
    #: content against the item's) added to the transferred score. Both are standardised
    #: per user over the catalogue, so the weight is scale-free; 0 = pure transfer.
    content_weight: float = pydantic.Field(0.0, ge=0.0)

    @pydantic.model_validator(mode="after")
    def _check_base(self) -> ColdTransferParams:
        """An unknown ``base`` or a bad ``base_params`` key fails when the config is read,
        named as the key the user wrote, not after the data is loaded and encoded."""
        if self.base == "cold-transfer":
            raise ConfigError("model.params.base: cold-transfer cannot wrap itself")
        try:
            validate_params(self.base, self.base_params)
        except ConfigError as exc:  # its keys are the base's: say where they sit here
            where = str(exc).replace("model.params.", "model.params.base_params.")
            raise ConfigError(where.replace("model.name:", "model.params.base:")) from exc
        base = model_class(self.base)
        if base.sequential or not base.scores_by_dot_product:
            why = (
                "reads ordered histories, not a fixed vector per user"
                if base.sequential
                else "adds item terms its vectors do not carry"
            )
            raise ConfigError(
                f"model.params.base: '{self.base}' {why}, so cold items cannot borrow its item "
                "vectors; use an embedding model that scores by a dot product (mf-bpr, "
                "lightgcn, freedom, mgcn, ...)"
            )
        return self


def content_neighbours(
    content: np.ndarray, queries: np.ndarray, pool: np.ndarray, k: int, block: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` items of ``pool`` by cosine for each item in ``queries`` (rows of
    ``content`` are unit or zero vectors) and their weights: the non-negative similarities
    normalised to sum to one (uniform when all are <= 0). Computed in row blocks so memory is
    ``block x len(pool)`` (at most ~2**26 similarities by default), never items x items."""
    k = min(k, len(pool))
    block = block or max(1, min(4096, 2**26 // max(len(pool), 1)))
    idx = np.empty((len(queries), k), dtype=np.int64)
    sim = np.empty((len(queries), k), dtype=np.float32)
    pool_vecs = torch.from_numpy(content[pool])
    for start in range(0, len(queries), block):
        q = torch.from_numpy(content[queries[start : start + block]])
        vals, pos = (q @ pool_vecs.T).topk(k, dim=1)
        idx[start : start + block] = pool[pos.numpy()]
        sim[start : start + block] = vals.numpy()
    w = np.clip(sim, 0.0, None)
    total = w.sum(axis=1, keepdims=True)
    w = np.where(total > 0, w / np.maximum(total, 1e-12), 1.0 / k)
    return idx, w.astype(np.float32)


def standardise(scores: torch.Tensor) -> torch.Tensor:
    """Per-row z-score, so two kinds of score can be added with a scale-free weight."""
    mean = scores.mean(dim=1, keepdim=True)
    return (scores - mean) / scores.std(dim=1, keepdim=True).clamp_min(1e-8)


@register
class ColdTransfer(Recommender):
    """Trains ``base``; cold items borrow the mean vector of their warm content neighbours."""

    name = "cold-transfer"
    ParamsSchema = ColdTransferParams
    requires_features = True

    def __init__(self, data: TrainData, params: ColdTransferParams) -> None:
        super().__init__(data, params)
        self.base = build_model(params.base, data, params.base_params)
        self.trainable = self.base.trainable
        self.needs_negatives = self.base.needs_negatives
        self._check_base()
        popularity = data.item_popularity
        cold, warm = np.flatnonzero(popularity == 0), np.flatnonzero(popularity > 0)
        if len(warm) == 0:
            raise ModelError("cold-transfer: the training matrix has no warm items to borrow from")
        content = content_matrix(data.features, params.modalities, center=True)
        has_content = np.abs(content).sum(axis=1) > 0
        blank = cold[~has_content[cold]]
        if len(blank):
            log.warning(
                "cold-transfer: %d cold items have none of the modalities %s; they get the mean "
                "warm item vector",
                len(blank),
                data.features.select(params.modalities).names,
            )
        cold = cold[has_content[cold]]
        idx, w = content_neighbours(content, cold, warm, params.k)
        self.register_buffer("warm", torch.from_numpy(warm), persistent=False)
        self.register_buffer("blank", torch.from_numpy(blank), persistent=False)
        self.register_buffer("cold", torch.from_numpy(cold), persistent=False)
        self.register_buffer("neighbours", torch.from_numpy(idx), persistent=False)
        self.register_buffer("weights", torch.from_numpy(w), persistent=False)
        self.content = None
        if params.content_weight > 0:
            self.content = build_model("content-knn", data, {"modalities": params.modalities})

    def _check_base(self) -> None:
        """The transfer is only meaningful if the base scores by dot product of the vectors
        it exposes; verify that on a few users instead of trusting it."""
        was_training = self.base.training
        self.base.eval()
        users = torch.arange(min(4, self.n_users))
        with torch.no_grad():
            u, i = self.base.user_embeddings(), self.base.item_embeddings()
            ok = u is not None and i is not None
            ok = ok and torch.allclose(self.base.score(users), u[users] @ i.T, atol=1e-4, rtol=1e-4)
        self.base.train(was_training)
        if not ok:
            raise ConfigError(
                f"model.params.base: '{self.params.base}' does not score by a dot product of "
                "user and item embeddings, so cold items cannot borrow its item vectors; use "
                "an embedding model (mf-bpr, lightgcn, freedom, mgcn, ...)"
            )

    # -- training is the base model's -----------------------------------------------------
    def calculate_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.base.calculate_loss(batch)

    def fit(self, data: TrainData) -> None:
        self.base.fit(data)

    def on_epoch_start(self, epoch: int) -> None:
        self.base.on_epoch_start(epoch)

    # -- scoring --------------------------------------------------------------------------
    def _vectors(self) -> tuple[torch.Tensor, torch.Tensor]:
        def compute() -> tuple[torch.Tensor, torch.Tensor]:
            users, items = self.base.user_embeddings(), self.base.item_embeddings().clone()
            borrowed = (self.weights.unsqueeze(2) * items[self.neighbours]).sum(dim=1)
            items[self.cold] = borrowed
            items[self.blank] = items[self.warm].mean(dim=0)
            return users, items

        return self.cached("vectors", compute)

    def score(self, users: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        user_vec, item_vec = self._vectors()
        if self.content is None:
            return self.dot_scores(user_vec[users], item_vec, items)
        mixed = standardise(user_vec[users] @ item_vec.T) + self.params.content_weight * (
            standardise(self.content.score(users))
        )
        return mixed if items is None else mixed[:, items]

    def item_embeddings(self) -> torch.Tensor:
        return self._vectors()[1]

    def user_embeddings(self) -> torch.Tensor:
        return self._vectors()[0]
