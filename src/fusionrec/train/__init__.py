"""Training: one trainer for every model, plus the experiment runner."""

from fusionrec.train.trainer import TrainResult, evaluate_model, seed_everything, train_model

__all__ = ["TrainResult", "evaluate_model", "seed_everything", "train_model"]
