"""Training settings, validated at the edge."""

from __future__ import annotations

from typing import Literal

import pydantic


class TrainConfig(pydantic.BaseModel):
    """How the trainer runs. ``metric`` is the validation metric for early stopping."""

    model_config = pydantic.ConfigDict(extra="forbid")

    epochs: int = pydantic.Field(300, ge=1)
    batch_size: int = pydantic.Field(2048, ge=1)
    lr: float = pydantic.Field(1e-3, gt=0)
    weight_decay: float = pydantic.Field(0.0, ge=0)
    n_negatives: int = pydantic.Field(1, ge=1)
    patience: int = pydantic.Field(20, ge=1, description="evaluations without improvement")
    eval_every: int = pydantic.Field(1, ge=1)
    metric: str = pydantic.Field("recall@20", pattern=r"^(recall|ndcg|precision|hit|map|mrr)@\d+$")
    seed: int = 2026
    device: Literal["auto", "cpu", "cuda"] = "auto"
    checkpoint_every: int = pydantic.Field(1, ge=1, description="epochs between checkpoints")
    threads: int | None = pydantic.Field(None, ge=1, description="torch CPU threads")
