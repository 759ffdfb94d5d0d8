"""EASE and its content-aware form: closed-form item-item linear models.

EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019) learns one
item-item weight matrix B from the training matrix X (users x items) by

    min_B ||X - X B||² + λ ||B||²   subject to   diag(B) = 0,

whose solution is closed form: with P = (XᵀX + λI)⁻¹, B_ij = -P_ij / P_jj (i ≠ j), B_jj = 0.
A user's scores are X_u B. On small, dense-enough catalogues it is among the strongest
collaborative models there are, and it costs one n_items x n_items inverse, no epochs.

Content-EASE is the collective form of Jeunen, Van Balen and Goethals ("Closed-Form Models
for Collaborative Filtering with Side-Information", RecSys 2020): the side information is
stacked under X as extra rows, weighted by α: with the content as rows Fᵀ (features x
items), the Gram matrix of [X; α Fᵀ] is

    G = XᵀX + w · F Fᵀ,

with F (items x features) the L2-normalised, per-modality content vectors (the matrix
Content-KNN uses) and w = ``content_weight`` = α². Two items are tied by co-consumption and
by content likeness in one solve; an item nobody rated in training still gets a column of B
from its content neighbours, so it can be recommended. The paper stacks sparse tags; dense
pretrained features are the same algebra.

Memory and time grow with the square and cube of the catalogue (9,742 movies: ~2.3 GB while
solving, about a minute on one core); the solve runs in float64, B is kept in float32.
"""

from __future__ import annotations

import numpy as np
import pydantic
import scipy.sparse as sp
import torch

from fusionrec.models.base import Params, TrainData, register
from fusionrec.models.content_knn import content_matrix
from fusionrec.models.item_item import ItemItemRecommender


class EASEParams(Params):
    #: λ, the L2 weight on B (Steck's paper: a few hundred on MovieLens-20M)
    reg_weight: float = pydantic.Field(100.0, gt=0.0)


class ContentEASEParams(EASEParams):
    #: w = α², the weight of the content Gram F Fᵀ beside the co-consumption Gram XᵀX
    content_weight: float = pydantic.Field(50.0, ge=0.0)
    #: modalities to use (None = all available)
    modalities: list[str] | None = None
    #: remove each modality's catalogue mean before normalising (as Content-KNN)
    center: bool = True


def ease_weights(gram: np.ndarray, reg_weight: float) -> np.ndarray:
    """B = -P / diag(P) with P = (gram + λI)⁻¹ and a zero diagonal (float32 result)."""
    g = torch.as_tensor(gram, dtype=torch.float64).clone()
    g.diagonal().add_(reg_weight)
    p = torch.cholesky_inverse(torch.linalg.cholesky(g))
    del g
    p.div_(-p.diagonal()[None, :])
    p.diagonal().zero_()
    return p.to(torch.float32).numpy()


def binary(train: sp.spmatrix, dtype: type = np.float32) -> sp.csr_matrix:
    """The training matrix with every interaction as 1 (X in the equations)."""
    x = sp.csr_matrix(train, dtype=dtype)
    x.data[:] = 1.0
    return x


def cooccurrence(train: sp.spmatrix) -> np.ndarray:
    """XᵀX of the binary training matrix, dense float64."""
    x = binary(train, np.float64)
    return (x.T @ x).toarray()


@register
class EASE(ItemItemRecommender):
    """Closed-form item-item autoencoder on the interaction matrix (ids only)."""

    name = "ease"
    ParamsSchema = EASEParams

    def history_matrix(self, data: TrainData) -> sp.csr_matrix:
        return binary(data.train_matrix)

    def gram(self, data: TrainData) -> np.ndarray:
        return cooccurrence(data.train_matrix)

    def build_item_item(self, data: TrainData) -> np.ndarray:
        """B."""
        return ease_weights(self.gram(data), self.params.reg_weight)


@register
class ContentEASE(EASE):
    """EASE whose Gram matrix also holds the items' content likeness (collective EASE)."""

    name = "content-ease"
    ParamsSchema = ContentEASEParams
    requires_features = True

    def gram(self, data: TrainData) -> np.ndarray:
        f = content_matrix(data.features, self.params.modalities, self.params.center).astype(
            np.float64
        )
        g = cooccurrence(data.train_matrix)
        g += self.params.content_weight * (f @ f.T)
        return g
