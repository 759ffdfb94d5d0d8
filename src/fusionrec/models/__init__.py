"""Recommenders behind one contract (``fusionrec.models.base.Recommender``).

Importing this package registers every built-in model in ``MODELS``.
"""

from fusionrec.models import itemknn, lightgcn, mf, popular  # noqa: F401
from fusionrec.models.base import MODELS, Recommender, TrainData, build_model

__all__ = ["MODELS", "Recommender", "TrainData", "build_model"]
