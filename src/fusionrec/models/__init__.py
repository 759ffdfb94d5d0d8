"""Recommenders behind one contract (``fusionrec.models.base.Recommender``).

Importing this package registers every built-in model in ``MODELS``.
"""

from fusionrec.models import (  # noqa: F401
    bm3,
    freedom,
    itemknn,
    lattice,
    lightgcn,
    mf,
    popular,
    vbpr,
)
from fusionrec.models.base import MODELS, Recommender, TrainData, build_model

__all__ = ["MODELS", "Recommender", "TrainData", "build_model"]
