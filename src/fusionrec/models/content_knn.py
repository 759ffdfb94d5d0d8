"""Content-only ItemKNN: the baseline every content-aware model must beat on cold items.

A user's profile is the mean (L2-normalised) content vector of their training items; an item
is scored by the cosine between that profile and its content vector. Interactions are used
only to build profiles, never to represent items, so items nobody interacted with are scored
exactly like warm ones. Modalities are L2-normalised separately and concatenated (each scaled
by 1/sqrt(M)) so a wide modality does not drown a narrow one; a missing modality contributes
zeros rather than a fake feature.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from fusionrec.data.features import ItemFeatures
from fusionrec.models.base import Params, Recommender, TrainData, register


class ContentKNNParams(Params):
    #: modalities to use (None = all available)
    modalities: list[str] | None = None
    #: remove the catalogue mean per modality before normalising (cosine of centred vectors
    #: separates items better when all raw features share a large common component)
    center: bool = True


def content_matrix(
    features: ItemFeatures, modalities: list[str] | None, center: bool
) -> np.ndarray:
    """[n_items, sum(dims)] concatenation of per-modality L2-normalised content vectors."""
    feats = features.select(modalities)
    blocks = []
    scale = 1.0 / np.sqrt(len(feats))
    for mod in feats:
        x = mod.matrix.astype(np.float32).copy()
        if center and mod.mask.any():
            x[mod.mask] -= x[mod.mask].mean(axis=0, keepdims=True)
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        x = np.where(norms > 0, x / np.maximum(norms, 1e-12), 0.0)
        x[~mod.mask] = 0.0
        blocks.append(scale * x)
    return np.concatenate(blocks, axis=1).astype(np.float32)


@register
class ContentKNN(Recommender):
    """Cosine between a user's mean training-item content and each item's content."""

    name = "content-knn"
    ParamsSchema = ContentKNNParams
    trainable = False
    requires_features = True

    def __init__(self, data: TrainData, params: ContentKNNParams) -> None:
        super().__init__(data, params)
        items = torch.from_numpy(content_matrix(data.features, params.modalities, params.center))
        self.register_buffer("items", items, persistent=False)
        self.register_buffer(
            "profiles", torch.zeros(data.n_users, items.shape[1]), persistent=False
        )
        self.fit(data)

    def fit(self, data: TrainData) -> None:
        r = sp.csr_matrix(data.train_matrix, dtype=np.float32)
        deg = np.asarray(r.sum(axis=1)).ravel()
        r = sp.diags(1.0 / np.maximum(deg, 1.0)) @ r
        prof = torch.from_numpy(np.asarray(r @ self.items.cpu().numpy(), dtype=np.float32))
        self.profiles = torch.nn.functional.normalize(prof, dim=1).to(self.items.device)

    def score(self, users: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        return self.dot_scores(self.profiles[users], self.items, items)

    def item_embeddings(self) -> torch.Tensor:
        return self.items

    def user_embeddings(self) -> torch.Tensor:
        return self.profiles
