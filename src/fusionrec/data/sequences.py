"""Per-user interaction sequences in time order, for sequential recommenders.

A ``Sequences`` is CSR-shaped: user ``u``'s items, oldest first, are
``items[indptr[u]:indptr[u + 1]]``. Order is by timestamp, and interactions with the same
timestamp keep their row order in the dataset (a stable sort), so a sequence never depends
on a sort's whim; without timestamps the row order is the order. Sequences keep every
interaction (a repeated item appears twice); a model reads fixed-length windows of them
(``windows``), so the maximum length is the model's setting, not the data's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from fusionrec.data.dataset import ITEM, TIMESTAMP, USER, Dataset

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sequences:
    """``indptr`` int64 [n_users + 1], ``items`` int64 [n]: each user's items oldest first."""

    indptr: np.ndarray
    items: np.ndarray

    @classmethod
    def single(cls, items: np.ndarray) -> Sequences:
        """One user's ordered items (oldest first): a history given at request time."""
        items = np.asarray(items, dtype=np.int64)
        return cls(np.array([0, len(items)], dtype=np.int64), items)

    @property
    def n_users(self) -> int:
        return len(self.indptr) - 1

    def lengths(self) -> np.ndarray:
        return np.diff(self.indptr)

    @cached_property
    def owners(self) -> np.ndarray:
        """The user of every position of ``items`` (computed once)."""
        return np.repeat(np.arange(self.n_users, dtype=np.int64), self.lengths())

    def of(self, user: int) -> np.ndarray:
        return self.items[self.indptr[user] : self.indptr[user + 1]]

    def windows(self, ends: np.ndarray, starts: np.ndarray, length: int, pad: int) -> np.ndarray:
        """[len(ends), length]: the items at positions ``[ends - length, ends)`` not before
        ``starts``, right-aligned (most recent last) and left-padded with ``pad``."""
        ends = np.asarray(ends, dtype=np.int64)
        if not len(self.items):  # no items at all (an empty history): padding only
            return np.full((len(ends), length), pad, dtype=np.int64)
        pos = ends[:, None] - length + np.arange(length, dtype=np.int64)
        inside = pos >= np.asarray(starts, dtype=np.int64)[:, None]
        return np.where(inside, self.items[np.clip(pos, 0, len(self.items) - 1)], pad)

    def prefixes(self, positions: np.ndarray, length: int, pad: int) -> np.ndarray:
        """The (at most ``length``) items of the same user before each of ``positions``."""
        positions = np.asarray(positions, dtype=np.int64)
        starts = self.indptr[self.owners[positions]] if len(positions) else positions
        return self.windows(positions, starts, length, pad)

    def recent(self, users: np.ndarray, length: int, pad: int) -> np.ndarray:
        """Each user's ``length`` most recent items (the history a user is scored from)."""
        users = np.asarray(users, dtype=np.int64)
        return self.windows(self.indptr[users + 1], self.indptr[users], length, pad)

    def trainable_positions(self) -> np.ndarray:
        """Positions that have at least one earlier item of their user: the next-item
        training examples (a user's first item has no history to predict it from)."""
        first = np.zeros(len(self.items), dtype=bool)
        starts = self.indptr[:-1][self.lengths() > 0]
        first[starts] = True
        return np.flatnonzero(~first)

    def window_ends(self, stride: int) -> np.ndarray:
        """Positions that cut every user's trainable positions into runs of ``stride`` from
        the most recent back: the window ending at position p scores the targets
        ``(p - stride, p]`` (the user's first item is never a target), so each trainable
        position is a target of exactly one window."""
        n = self.lengths()
        n_windows = np.where(n > 1, -(-(n - 1) // stride), 0)  # ceil((n - 1) / stride)
        owner = np.repeat(np.arange(self.n_users), n_windows)
        back = np.arange(n_windows.sum()) - np.repeat(np.cumsum(n_windows) - n_windows, n_windows)
        return self.indptr[owner + 1] - 1 - back * stride


def history_order(users: np.ndarray, timestamps: np.ndarray | None) -> np.ndarray:
    """The order of the interactions ``i`` in their users' histories: by user, then
    timestamp; ties (and everything, without timestamps) in the order given."""
    keys = (users,) if timestamps is None else (np.asarray(timestamps), users)
    return np.lexsort(keys)  # lexsort is stable: equal keys keep their input order


def chronological_positions(dataset: Dataset) -> np.ndarray:
    """Each interaction row's place in its user's history order (comparable within a user),
    the order ``dataset_sequences`` builds."""
    inter = dataset.interactions
    stamps = inter[TIMESTAMP].to_numpy() if dataset.has_timestamps else None
    order = history_order(inter[USER].to_numpy(), stamps)
    positions = np.empty(len(order), dtype=np.int64)
    positions[order] = np.arange(len(order))
    return positions


def build_sequences(
    users: np.ndarray, items: np.ndarray, timestamps: np.ndarray | None, n_users: int
) -> Sequences:
    """Sequences of the interactions ``(users[i], items[i])``, ordered by timestamp per user,
    ties (and everything, without timestamps) in the order given."""
    users = np.asarray(users, dtype=np.int64)
    order = history_order(users, timestamps)
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(users, minlength=n_users), out=indptr[1:])
    return Sequences(indptr, np.asarray(items, dtype=np.int64)[order])


def dataset_sequences(dataset: Dataset, rows: np.ndarray | None = None) -> Sequences:
    """The sequences of ``dataset.interactions`` rows ``rows`` (default: all), e.g. the
    training part of a split; rows keep their dataset order where timestamps tie."""
    inter = dataset.interactions
    rows = np.arange(len(inter)) if rows is None else np.sort(np.asarray(rows))
    stamps = None
    if dataset.has_timestamps:
        stamps = inter[TIMESTAMP].to_numpy()[rows]
    else:
        log.warning(
            "dataset '%s' has no timestamps: user sequences follow the row order of its file",
            dataset.name,
        )
    return build_sequences(
        inter[USER].to_numpy()[rows], inter[ITEM].to_numpy()[rows], stamps, dataset.n_users
    )


def rows_of_parts(labels: np.ndarray, parts: Iterable[int]) -> np.ndarray:
    """Dataset rows whose split label is one of ``parts``."""
    return np.flatnonzero(np.isin(labels, list(parts)))
