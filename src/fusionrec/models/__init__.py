"""Recommenders behind one contract (``fusionrec.models.base.Recommender``).

Importing this package registers every built-in model in ``MODELS``.
"""

from fusionrec.models import (  # noqa: F401
    adversarial,
    bm3,
    cold_transfer,
    content_knn,
    diffmm,
    ease,
    freedom,
    gru4rec,
    itemknn,
    lattice,
    lightgcn,
    mentor,
    mf,
    mgcn,
    mmsasrec,
    multitask,
    popular,
    sasrec,
    smore,
    vbpr,
)
from fusionrec.models.base import MODELS, Recommender, TrainData, build_model

__all__ = ["MODELS", "Recommender", "TrainData", "build_model"]
