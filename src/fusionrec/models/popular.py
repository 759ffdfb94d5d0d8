"""MostPopular: every user gets the items with the most training interactions."""

from __future__ import annotations

import torch

from fusionrec.models.base import Recommender, TrainData, register


@register
class MostPopular(Recommender):
    name = "most-popular"
    trainable = False

    def __init__(self, data: TrainData, params) -> None:
        super().__init__(data, params)
        self.register_buffer("popularity", torch.zeros(data.n_items))

    def fit(self, data: TrainData) -> None:
        self.popularity = torch.from_numpy(data.item_popularity.astype("float32")).to(
            self.popularity.device
        )

    def score(self, users: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        pop = self.popularity if items is None else self.popularity[items]
        return pop.unsqueeze(0).expand(len(users), -1)
