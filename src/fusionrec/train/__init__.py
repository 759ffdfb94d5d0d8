"""Training: one trainer for every model, plus the experiment runner."""

from fusionrec.train.config import TrainConfig
from fusionrec.train.trainer import TrainResult, evaluate_model, seed_everything, train_model

__all__ = ["TrainConfig", "TrainResult", "evaluate_model", "seed_everything", "train_model"]
