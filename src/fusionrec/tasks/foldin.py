"""New users without retraining: fold a few liked items, or a sentence, into the item space
a trained recommender scores with.

Fold-in methods (``items`` = the model's scoring item vectors V, ``liked`` = rows of V):

* ``mean``: the user vector is the mean of the liked item vectors; score = V u. Valid for
  dot-product models, where a trained user vector is (roughly) a combination of the vectors
  of the items the user interacted with.
* ``least-squares``: the ridge solution of V u ~ y with y = 1 on the liked items and 0
  elsewhere (implicit-ALS fold-in): u = (V'V + lambda I)^-1 V' y. It discounts directions
  every item shares (popularity), so it recommends more specifically than ``mean``.
* ``item-similarity``: score = sum over liked items of the cosine similarity to each item.
  Needs no user vector, so it works for models whose score is not a plain dot product.

Which one is the default is measured, not assumed: ``benchmarks/bench_text_preferences.py``
picks it on validation users of movielens-100k-mm (LightGCN, five liked items per user):
``least-squares`` (reg 10) for liked items, ``mean`` for a mapped description.

Text preferences: a ridge regression maps an item's text features to its scoring vector,
fitted on training items (those with training interactions and text). A sentence is
embedded with the dataset's text encoder, mapped to a pseudo-item vector, and folded in as
if the user had liked that one item.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from fusionrec.encoders.base import l2_normalize
from fusionrec.errors import ConfigError

FoldIn = Literal["mean", "least-squares", "item-similarity"]
FOLD_IN_METHODS: tuple[str, ...] = ("mean", "least-squares", "item-similarity")


def fold_in_scores(
    items: np.ndarray,
    liked: np.ndarray,
    method: FoldIn = "mean",
    reg: float = 1.0,
    dot_product: bool = True,
) -> np.ndarray:
    """Scores [n_items] of a new user who liked the item vectors ``liked`` [n_liked, d].

    ``reg`` scales the ridge penalty of ``least-squares`` relative to the mean eigenvalue
    of V'V, so one value suits embeddings of any size and scale.
    """
    if method not in FOLD_IN_METHODS:
        raise ConfigError(f"fold-in method '{method}': choose from {list(FOLD_IN_METHODS)}")
    if method != "item-similarity" and not dot_product:
        raise ConfigError(
            f"fold-in method '{method}' needs a model whose score is a dot product of user "
            "and item vectors; use method='item-similarity'"
        )
    items64 = items.astype(np.float64)
    liked64 = np.atleast_2d(liked).astype(np.float64)
    if method == "item-similarity":
        return (l2_normalize(items64) @ l2_normalize(liked64).sum(axis=0)).astype(np.float32)
    if method == "mean":
        return (items64 @ liked64.mean(axis=0)).astype(np.float32)
    gram = items64.T @ items64
    penalty = reg * np.trace(gram) / gram.shape[0]
    user = np.linalg.solve(gram + penalty * np.eye(gram.shape[0]), liked64.sum(axis=0))
    return (items64 @ user).astype(np.float32)


class TextToItemMap:
    """Ridge regression (with intercept) from text features to scoring item vectors.

    ``alpha`` scales the penalty relative to the mean eigenvalue of the centred X'X. Fitted
    only on ``rows`` (training items with text): an item never interacted with has an
    untrained vector that would teach the map noise.
    """

    def __init__(self, text: np.ndarray, items: np.ndarray, rows: np.ndarray, alpha: float):
        if len(rows) < 2:
            raise ConfigError(
                "text preferences need at least two training items with text to learn the "
                f"text-to-item map; this run has {len(rows)}"
            )
        x = text[rows].astype(np.float64)
        y = items[rows].astype(np.float64)
        self.x_mean, self.y_mean = x.mean(axis=0), y.mean(axis=0)
        xc, yc = x - self.x_mean, y - self.y_mean
        gram = xc.T @ xc
        penalty = alpha * max(np.trace(gram) / gram.shape[0], 1e-12)
        self.weights = np.linalg.solve(gram + penalty * np.eye(gram.shape[0]), xc.T @ yc)

    def __call__(self, text: np.ndarray) -> np.ndarray:
        """Pseudo-item vectors [n, d_items] of text feature rows [n, d_text]."""
        return (np.atleast_2d(text) - self.x_mean) @ self.weights + self.y_mean


def sentence_encoder(config: Any) -> Any:
    """The encoder of a ``features.text`` config section, refused when it cannot embed a
    new sentence in the catalogue's space (e.g. TF-IDF, fitted on the catalogue itself)."""
    from fusionrec.encoders import make_encoder

    encoder = make_encoder(config)
    if not encoder.chunkable:
        raise ConfigError(
            f"text encoder '{encoder.id}' is fitted on the catalogue itself and cannot "
            "embed a new sentence; use features.text.encoder sentence-transformers, "
            "hf or clip"
        )
    return encoder


def embed_sentences(encoder: Any, texts: list[str]) -> np.ndarray:
    """[len(texts), d] embeddings of user descriptions; an empty one is refused."""
    matrix, mask = encoder.encode(texts)
    if not mask.all():
        raise ConfigError("the description is empty; say what you like in a few words")
    return matrix
