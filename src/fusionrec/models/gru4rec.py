"""GRU4Rec: a recurrent network over the user's item sequence.

Hidasi, Karatzoglou, Baltrunas & Tikk, "Session-based Recommendations with Recurrent Neural
Networks", ICLR 2016. Each item x_t of the sequence (its embedding) updates the hidden state
with a gated recurrent unit (Sec. 3, eqs. 1-4):

    z_t = sigmoid(W_z x_t + U_z h_{t-1})                  update gate
    r_t = sigmoid(W_r x_t + U_r h_{t-1})                  reset gate
    h^_t = tanh(W x_t + U (r_t * h_{t-1}))                candidate state
    h_t = (1 - z_t) h_{t-1} + z_t h^_t

and the state after the last item, mapped to the embedding size by a feed-forward layer,
scores every item: r_i = (W_o h_n + b_o) . e_i. The paper fed one-hot items to session-
parallel mini-batches with TOP1/BPR losses; this is the formulation of RecBole's GRU4Rec
(item embeddings with dropout, ``loss: ce`` by default), trained like SASRec: each window of
a user's sequence is read once and the state after every item predicts the next one
(``training: window``, default; ``prefix`` is RecBole's one example per next item).

When to use: short, strongly ordered sessions; a fast, small baseline for SASRec.
"""

from __future__ import annotations

import pydantic
import torch
from torch import nn

from fusionrec.models.base import TrainData, register
from fusionrec.models.sequential import SequentialParams, SequentialRecommender, item_table


class GRU4RecParams(SequentialParams):
    hidden_size: int = pydantic.Field(128, ge=1)
    n_layers: int = pydantic.Field(1, ge=1)
    #: Dropout on the input item embeddings (RecBole's dropout_prob).
    dropout: float = pydantic.Field(0.3, ge=0, lt=1)


@register
class GRU4Rec(SequentialRecommender):
    name = "gru4rec"
    ParamsSchema = GRU4RecParams

    def __init__(self, data: TrainData, params: GRU4RecParams) -> None:
        super().__init__(data, params)
        self.items = item_table(data.n_items, params.embedding_size)
        self.drop = nn.Dropout(params.dropout)
        self.gru = nn.GRU(
            params.embedding_size, params.hidden_size, params.n_layers, batch_first=True
        )
        self.out = nn.Linear(params.hidden_size, params.embedding_size)

    def item_vectors(self) -> torch.Tensor:
        return self.items.weight

    def _states(self, windows: torch.Tensor, table: torch.Tensor):
        """GRU states of the left-aligned windows, and the windows' lengths. The padding is
        moved to the end: a GRU is causal, so the state at a real item ignores what follows
        it, and padding never enters the state."""
        n = windows.shape[1]
        lengths = (windows != self.pad).sum(dim=1)
        shift = (torch.arange(n, device=windows.device) + (n - lengths).unsqueeze(1)) % n
        states, _ = self.gru(self.drop(table[windows.gather(1, shift)]))
        return states, lengths

    def encode(self, windows: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        states, lengths = self._states(windows, table)
        last = (lengths - 1).clamp(min=0)
        return self.out(states[torch.arange(len(windows), device=windows.device), last])

    def encode_positions(self, windows: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        states, lengths = self._states(windows, table)
        n = windows.shape[1]
        # back to the windows' right-aligned positions: original p <- aligned (p + len) % n
        back = (torch.arange(n, device=windows.device) + lengths.unsqueeze(1)) % n
        states = states.gather(1, back.unsqueeze(-1).expand(-1, -1, states.shape[-1]))
        return self.out(states)
