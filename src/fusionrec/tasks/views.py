"""The item vectors a fitted recommender can compare items in ("views").

* ``behaviour``: what the model learned from interactions alone: its behaviour-only part
  (``Recommender.behaviour_embeddings``) for models that fuse content, else its item
  embeddings (id models such as MF-BPR and LightGCN).
* ``text``, ``image``, ``audio``: the cached content features the model was trained with.
* ``fused``: the item vectors a multimodal model scores with (``item_embeddings()``).

The *scoring* vectors are ``item_embeddings()`` whatever the model: the space in which a
user's score of an item is (for most models exactly) a dot product. Fold-in, the text
mapping and ``explain`` all work in that space.
"""

from __future__ import annotations

import numpy as np
import torch

from fusionrec.data.features import ItemFeatures
from fusionrec.errors import ModelError
from fusionrec.models.base import Recommender

CONTENT_VIEWS = ("text", "image", "audio")


def _numpy(tensor: torch.Tensor | None) -> np.ndarray | None:
    return None if tensor is None else tensor.detach().float().cpu().numpy()


def available_views(model: Recommender, features: ItemFeatures | None) -> list[str]:
    """The views ``item_view`` can give for this model: behaviour only where the model has
    it (every id model; a fused model only if it keeps a behaviour-only part)."""
    with torch.no_grad():
        has_items = model.item_embeddings() is not None
        behaviour = has_items and (
            not model.requires_features or model.behaviour_embeddings() is not None
        )
    views = ["behaviour"] if behaviour else []
    views += [n for n in (features.names if features is not None else []) if n in CONTENT_VIEWS]
    if has_items and model.requires_features:
        views.append("fused")
    return views


def item_view(model: Recommender, features: ItemFeatures | None, view: str) -> np.ndarray:
    """[n_items, d] float32 vectors of ``view``; rows of items without the modality are 0."""
    available = available_views(model, features)
    if view not in available:
        raise ModelError(
            f"view '{view}' is not available for model '{model.name}'; "
            f"available views: {', '.join(available) or 'none'}"
        )
    if view in CONTENT_VIEWS:
        return features[view].matrix
    with torch.no_grad():
        if view == "behaviour" and model.requires_features:
            return _numpy(model.behaviour_embeddings())
        return _numpy(model.item_embeddings())


def view_mask(features: ItemFeatures | None, view: str, vectors: np.ndarray) -> np.ndarray:
    """Items that have a vector in ``view``: content views, the modality's presence mask;
    the others, a row that is not all zeros (VBPR's behaviour factors of items never
    trained on are zero: no direction to compare, not a similarity of 0 to everything)."""
    if view in CONTENT_VIEWS and features is not None and view in features:
        return features[view].mask
    return np.asarray(vectors != 0).any(axis=1)


def scoring_vectors(model: Recommender) -> tuple[np.ndarray, np.ndarray | None]:
    """(item vectors, user vectors) the model scores with; a clear error without them."""
    with torch.no_grad():
        items, users = model.item_embeddings(), model.user_embeddings()
    if items is None:
        raise no_item_embeddings(model.name)
    return _numpy(items), _numpy(users)


def score_offsets(model: Recommender) -> np.ndarray | None:
    """[n_items] per-item term the model adds to user . item (``item_score_offsets``)."""
    with torch.no_grad():
        return _numpy(model.item_score_offsets())


def no_item_embeddings(model: str) -> ModelError:
    """The error of asking a model without item vectors (EASE, ItemKNN) for them."""
    return ModelError(
        f"model '{model}' has no item embeddings; fold-in, text preferences and user "
        "vectors need an embedding model (mf-bpr, lightgcn or a multimodal one)"
    )


def added_in_history(model: str) -> ModelError:
    """The error of a history that holds an added item: a sequential model encodes items
    through its trained item table, which has no row for them."""
    return ModelError(
        f"model '{model}' reads a history through its trained item table; items added after "
        "training can be recommended but not read in a history"
    )


def is_dot_product(
    model: Recommender,
    items: np.ndarray,
    users: np.ndarray | None,
    offsets: np.ndarray | None = None,
) -> bool:
    """Whether ``score(u, .)`` equals ``user_vec @ item_vecs.T`` (plus ``offsets``, when
    given; checked on a few users): without offsets a new user can be represented by a
    vector in the same space; with them, known users can still be served from vectors."""
    if users is None:
        return False
    rows = torch.arange(min(16, users.shape[0]))
    with torch.no_grad():
        scores = model.score(rows.to(_device(model))).float().cpu().numpy()
    expected = users[rows.numpy()] @ items.T
    if offsets is not None:
        expected = expected + offsets
    scale = max(1e-6, float(np.abs(expected).max()))
    return bool(np.allclose(scores, expected, rtol=1e-4, atol=1e-4 * scale))


def _device(model: Recommender) -> torch.device:
    tensor = next(iter(model.parameters()), None)
    if tensor is None:
        tensor = next(iter(model.buffers()), None)
    return tensor.device if tensor is not None else torch.device("cpu")
