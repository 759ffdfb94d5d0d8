"""Why an item was recommended: how much of its score comes from behaviour and from each
content modality.

A modality's part is measured by ablation: the model is rebuilt with that modality's
features marked missing for every item (zero rows, mask False, exactly how a model sees an
item without an image) and the trained weights loaded unchanged. With ``v(S)`` the score when
only the modalities in ``S`` are present, ``behaviour = v({})`` and each modality gets its
Shapley value over the modalities, so the parts always add up to the full score. For an
additive fusion (score = behaviour + text part + image part, a part vanishing when its
modality is missing) the Shapley values are exactly those parts; for any other fusion they
are an approximation, and ``additive`` says which case was observed.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import scipy.sparse as sp
import torch

from fusionrec.data.features import ItemFeatures, ModalityFeatures
from fusionrec.errors import ModelError
from fusionrec.models.base import Recommender, TrainData

Subset = frozenset[str]


def ablated_features(features: ItemFeatures, keep: Subset) -> ItemFeatures:
    """``features`` with every modality outside ``keep`` missing for every item."""
    mods = {
        m.name: m
        if m.name in keep
        else ModalityFeatures(m.name, np.zeros_like(m.matrix), np.zeros(len(m.mask), bool))
        for m in features
    }
    return ItemFeatures(features.n_items, mods)


class ModalityAblation:
    """Scores of one trained model with subsets of its modalities present; the rebuilt
    models are cached, so explaining many items costs one rebuild per subset."""

    def __init__(self, model: Recommender, data: TrainData) -> None:
        self.model = model
        self.data = data
        uses_content = model.requires_features and data.features is not None
        self.names = data.features.names if uses_content else []  # id models: behaviour only
        self._models: dict[Subset, Recommender] = {frozenset(self.names): model}

    def _model(self, keep: Subset) -> Recommender:
        if keep not in self._models:
            data = replace(self.data, features=ablated_features(self.data.features, keep))
            clone = type(self.model)(data, self.model.params).to(self.data.device)
            if self.model.trainable:
                clone.load_state_dict(self.model.state_dict())
            else:
                clone.fit(data)
            if self.model.sequential:  # the history the scores are computed from (train + valid)
                clone.set_history(self.model.history)
            self._models[keep] = clone.eval()
        return self._models[keep]

    def values(self, user: int, items: np.ndarray) -> dict[Subset, np.ndarray]:
        """``v(S)`` for every subset S of the modalities: scores of ``items`` for ``user``."""
        u = torch.tensor([user], device=self.data.device)
        i = torch.as_tensor(items, dtype=torch.long, device=self.data.device)
        out = {}
        for size in range(len(self.names) + 1):
            for subset in itertools.combinations(self.names, size):
                keep = frozenset(subset)
                with torch.no_grad():
                    scores = self._model(keep).score(u, i)[0].float().cpu().numpy()
                if not np.isfinite(scores).all():
                    raise ModelError(
                        f"model '{self.model.name}' gives non-finite scores with only "
                        f"{sorted(keep) or 'no'} modalities; its score cannot be split"
                    )
                out[keep] = scores
        return out

    def parts(self, user: int, items: np.ndarray) -> tuple[dict[str, np.ndarray], bool]:
        """Per-item parts ``{"behaviour": ..., <modality>: ...}`` summing to the scores, and
        whether the model behaved additively on them."""
        values = self.values(user, items)
        empty, n = frozenset(), len(self.names)
        parts = {"behaviour": values[empty]}
        for name in self.names:
            phi = np.zeros(len(items))
            for subset, v in values.items():
                if name in subset:
                    continue
                weight = math.factorial(len(subset)) * math.factorial(n - len(subset) - 1)
                phi += weight / math.factorial(n) * (values[subset | {name}] - v)
            parts[name] = phi
        singles = {m: values[frozenset([m])] - values[empty] for m in self.names}
        additive = all(
            np.allclose(
                v,
                values[empty] + sum((singles[m] for m in s), np.zeros(len(items))),
                rtol=1e-4,
                atol=1e-5,
            )  # fmt: skip
            for s, v in values.items()
        )
        return parts, additive


def closest_items(
    unit: np.ndarray, pool: np.ndarray, items: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``items``, the ``n`` rows of ``pool`` whose unit vectors (rows of
    ``unit``) are closest to it, most similar first (ties: earlier in ``pool``), and their
    cosines: the "because you liked" items of a recommendation. Shapes [len(items), <= n]."""
    sims = unit[np.asarray(items)] @ unit[pool].T
    order = np.argsort(-sims, axis=1, kind="stable")[:, :n]
    return pool[order], np.take_along_axis(sims, order, axis=1)


def largest_terms(
    weights: np.ndarray | sp.spmatrix, pool: np.ndarray, items: np.ndarray, n: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """For each of ``items``, the (up to ``n``) rows j of ``pool`` with the largest positive
    W[j, item], largest first (ties: earlier in ``pool``), and those terms: the "because you
    liked" items of an item-item model, whose score of an item is the sum of W[j, item] over
    the user's history. An item with fewer positive terms gets fewer rows (none for an item
    the history does not raise), so the answer is one array per item."""
    block = weights[pool][:, items]
    block = block.toarray() if sp.issparse(block) else np.asarray(block)
    rows, terms = [], []
    for column in block.T:
        order = np.argsort(-column, kind="stable")[:n]
        order = order[column[order] > 0]
        rows.append(pool[order])
        terms.append(column[order].astype(np.float32))
    return rows, terms


def shares(parts: dict[str, float]) -> dict[str, float]:
    """Each part as a signed fraction of the total absolute contribution (equal to part /
    score when every part has the same sign)."""
    total = sum(abs(v) for v in parts.values())
    return {k: (v / total if total > 0 else 0.0) for k, v in parts.items()}
