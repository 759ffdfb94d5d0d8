"""What every sequential recommender shares: next-item training and history-based scoring.

A sequential model encodes a user's most recent ``max_length`` items (oldest first) into one
vector h and scores item i by h . e_i, where e_i is the same item vector that represents i
in the input sequence (shared input/output embeddings, as GRU4Rec in RecBole and SASRec).

Training examples are the training interactions that have an earlier one of the same user:
the item at position t is predicted from the items before it (``batch["positions"]`` index
``TrainData.sequences``; the trainer puts them there for ``sequential`` models). Loss:

* ``ce`` (default): softmax cross-entropy of the true next item against every item,
  -log(exp(h . e_pos) / sum_j exp(h . e_j)), as RecBole's default;
* ``bpr``: -log sigmoid(h . e_pos - h . e_neg) with uniformly sampled negatives.

Scoring reads ``history``: the training sequences after building, and whatever the caller
sets with ``set_history`` after that (the experiment sets train + validation before scoring
test, as RecBole does). ``encode_history`` encodes any ordered list of items, for users not
seen in training.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pydantic
import torch
from torch import nn

from fusionrec.data.sequences import Sequences
from fusionrec.errors import ModelError
from fusionrec.models.base import Params, Recommender, TrainData, bpr_loss, pos_neg_scores


class SequentialParams(Params):
    embedding_size: int = pydantic.Field(64, ge=1)
    #: Most recent items a user is encoded from (RecBole's MAX_ITEM_LIST_LENGTH).
    max_length: int = pydantic.Field(50, ge=1)
    #: ce: full softmax over all items; bpr: pairwise against sampled negatives.
    loss: Literal["ce", "bpr"] = "ce"
    #: window: every position of a user's window of ``max_length`` items predicts the item
    #: after it, one pass per window (``train.batch_size`` counts windows; SASRec's paper
    #: trains so); prefix: one example per next item, its prefix encoded on its own
    #: (RecBole's data augmentation: the same targets, about max_length times the work).
    training: Literal["window", "prefix"] = "window"
    #: window training: targets scored per window (default ``max_length``: windows do not
    #: overlap, and a window's first targets are predicted from few items). A smaller
    #: stride overlaps the windows and scores only each window's last ``stride`` positions,
    #: so every target is predicted from at least ``max_length - stride`` earlier items
    #: where the user has them, for ``max_length / stride`` times the work; 1 is ``prefix``.
    window_stride: int | None = pydantic.Field(None, ge=1)

    @pydantic.model_validator(mode="after")
    def _window_needs_ce(self) -> SequentialParams:
        if self.training == "window" and self.loss == "bpr":
            raise ValueError("loss 'bpr' needs training 'prefix' (one negative per example)")
        if self.window_stride is not None and self.training == "prefix":
            raise ValueError("window_stride is for training 'window' (prefix has no windows)")
        if self.window_stride is not None and self.window_stride > self.max_length:
            raise ValueError(
                f"window_stride {self.window_stride} is above max_length {self.max_length}: "
                "a window scores at most its own positions"
            )
        return self

    @property
    def stride(self) -> int:
        """Targets scored per training window."""
        return self.window_stride or self.max_length


class SequentialRecommender(Recommender):
    """Base of the sequential models: subclasses implement ``item_vectors`` ([n_items, d],
    the input and output item representations) and ``encode`` (windows -> [B, d])."""

    sequential = True

    def __init__(self, data: TrainData, params: SequentialParams) -> None:
        super().__init__(data, params)
        if data.sequences is None:
            raise ModelError(
                f"model '{self.name}' needs the training interactions as user sequences "
                "(TrainData.sequences); build TrainData with fusionrec.train.experiment.train_data"
            )
        self.pad = data.n_items  # index of the padding row appended to the item table
        self.train_sequences = data.sequences
        self.history = data.sequences
        #: instance override of the class flag: only the BPR loss samples negatives
        self.needs_negatives = params.loss == "bpr"

    # -- what a subclass defines ----------------------------------------------------------
    def item_vectors(self) -> torch.Tensor:
        """[n_items, d] item representations (sequence inputs and scoring targets)."""
        raise NotImplementedError

    def encode(self, windows: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """[B, d] encodings of ``windows`` ([B, L] item indices, right-aligned, padded on
        the left with ``self.pad``); ``table`` is ``item_vectors()`` plus a zero pad row."""
        raise NotImplementedError

    def encode_positions(self, windows: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """[B, L, d]: the encoding after each position of ``windows`` (causal: position t
        sees items up to t), for window training; entries at padding are ignored."""
        raise NotImplementedError

    # -- shared machinery -----------------------------------------------------------------
    def _table(self) -> torch.Tensor:
        vectors = self.item_vectors()
        return torch.cat([vectors, vectors.new_zeros(1, vectors.shape[1])])

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def _windows(self, windows: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(windows).to(self._device())

    def set_history(self, sequences: Sequences) -> None:
        """Score from ``sequences`` from now on (e.g. train + validation before test)."""
        if sequences.n_users != self.n_users:
            raise ModelError(
                f"history has {sequences.n_users} users, model '{self.name}' {self.n_users}"
            )
        self.history = sequences
        self._cache = {}

    def train_positions(self) -> np.ndarray:
        """The positions of ``TrainData.sequences`` the trainer iterates as examples (into
        ``batch["positions"]``): window ends, or every next-item example (prefix)."""
        if self.params.training == "window":
            return self.train_sequences.window_ends(self.params.stride)
        return self.train_sequences.trainable_positions()

    def calculate_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.params.training == "window":
            return self._window_loss(batch)
        positions = batch["positions"].cpu().numpy()
        windows = self.train_sequences.prefixes(positions, self.params.max_length, self.pad)
        table = self._table()
        h = self.encode(self._windows(windows), table)
        return self.next_item_loss(h, table, batch["pos_items"], batch.get("neg_items"))

    def _window_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The window ending at position p is read once, and its output at each of its last
        ``stride`` positions is scored against the next item (targets (p - stride, p])."""
        seqs, n = self.train_sequences, self.params.max_length
        ends = batch["positions"].cpu().numpy()
        starts = seqs.indptr[seqs.owners[ends]]
        inputs = self._windows(seqs.windows(ends, starts, n, self.pad))
        targets = self._windows(seqs.windows(ends + 1, starts + 1, n, self.pad))
        if self.params.stride < n:  # the earlier positions are scored by earlier windows
            targets[:, : n - self.params.stride] = self.pad
        table = self._table()
        keep = targets != self.pad  # exactly the scored positions holding an input item
        h = self.encode_positions(inputs, table)[keep]
        return self.next_item_loss(h, table, targets[keep])

    def next_item_loss(
        self,
        h: torch.Tensor,
        table: torch.Tensor,
        targets: torch.Tensor,
        negatives: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The ``loss`` of encodings ``h`` [N, d] predicting items ``targets`` [N]."""
        if self.params.loss == "ce":
            return nn.functional.cross_entropy(h @ table[: self.n_items].T, targets)
        pos, neg = pos_neg_scores(h, table[targets], table[negatives])
        return bpr_loss(pos, neg)

    def _user_vectors(self) -> torch.Tensor:
        """[n_users, d] encodings of every user's current history (cached in eval mode)."""

        def compute() -> torch.Tensor:
            users = np.arange(self.n_users)
            windows = self.history.recent(users, self.params.max_length, self.pad)
            return self.encode(self._windows(windows), self._table())

        return self.cached("users", compute)

    def _item_matrix(self) -> torch.Tensor:
        return self.cached("items", self.item_vectors)

    def score(self, users: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        return self.dot_scores(self._user_vectors()[users], self._item_matrix(), items)

    def history_window(self, items: np.ndarray | list[int]) -> np.ndarray:
        """[1, max_length] window of an ordered list of item indices (oldest first): its
        most recent items, right-aligned and left-padded, as the encoder reads a user."""
        items = np.asarray(items, dtype=np.int64)
        if items.ndim != 1 or ((items < 0) | (items >= self.n_items)).any():
            raise ModelError(f"history must be item indices in [0, {self.n_items})")
        return Sequences.single(items).recent(np.array([0]), self.params.max_length, self.pad)

    def encode_history(self, items: np.ndarray | list[int]) -> torch.Tensor:
        """[d] encoding of an ordered list of item indices (oldest first): the vector a user
        with that history is scored with (``score`` = it . ``item_embeddings()``)."""
        with torch.no_grad():
            return self.encode(self._windows(self.history_window(items)), self._table())[0]

    def history_encoder(self) -> nn.Module:
        """The encoder alone, its current item table frozen in: windows [B, max_length]
        (``history_window``) -> [B, d] user vectors. A serving bundle exports it, so that a
        served model encodes a history at request time without the training code."""
        return HistoryEncoder(self).eval()

    def item_embeddings(self) -> torch.Tensor:
        return self._item_matrix().detach()

    def user_embeddings(self) -> torch.Tensor:
        return self._user_vectors().detach()


class HistoryEncoder(nn.Module):
    """``SequentialRecommender.encode`` over a fixed item table (see ``history_encoder``)."""

    def __init__(self, model: SequentialRecommender) -> None:
        super().__init__()
        self.model = model
        with torch.no_grad():
            self.register_buffer("table", model._table().detach().clone())

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return self.model.encode(windows, self.table)


def item_table(n_items: int, dim: int) -> nn.Embedding:
    """Id embeddings of the items, normal(0, 0.02) as RecBole's sequential models."""
    table = nn.Embedding(n_items, dim)
    nn.init.normal_(table.weight, std=0.02)
    return table
