"""User sequences: time order, stable ties, training rows only, fixed-length windows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fusionrec.data import build_dataset, make_split
from fusionrec.data.sequences import build_sequences, dataset_sequences, rows_of_parts
from fusionrec.data.split import TEST, TRAIN, VALID

PAD = 99


def tied_dataset():
    """u0 consumes a, b, c, d; b and c (and, later, the last two) share a timestamp, and the
    rows are shuffled so that row order and time order differ."""
    frame = pd.DataFrame(
        {
            "user_id": ["u0", "u1", "u0", "u0", "u0", "u1", "u1", "u0", "u0"],
            "item_id": ["d", "x", "b", "a", "c", "y", "z", "e", "f"],
            "timestamp": [30, 5, 20, 10, 20, 6, 7, 40, 40],
        }
    )
    return build_dataset("tied", frame)


def names(ds, items):
    return [str(x) for x in ds.item_ids[items]]


def test_sequences_follow_time_and_keep_row_order_on_ties():
    ds = tied_dataset()
    seqs = dataset_sequences(ds)
    u0, u1 = (int(ds.user_index()[u]) for u in ("u0", "u1"))
    assert names(ds, seqs.of(u0)) == ["a", "b", "c", "d", "e", "f"]  # b before c: row order
    assert names(ds, seqs.of(u1)) == ["x", "y", "z"]
    assert seqs.lengths().tolist() == [6, 3] if u0 == 0 else [3, 6]


def test_sequences_of_a_split_hold_only_its_rows():
    ds = tied_dataset()
    labels = np.full(len(ds.interactions), TRAIN)
    labels[[0, 6]] = TEST  # u0's "d", u1's "z"
    seqs = dataset_sequences(ds, rows_of_parts(labels, [TRAIN]))
    u0 = int(ds.user_index()["u0"])
    assert names(ds, seqs.of(u0)) == ["a", "b", "c", "e", "f"]
    assert len(seqs.items) == len(ds.interactions) - 2


def test_windows_are_right_aligned_padded_and_truncated_to_the_maximum_length():
    # user 0: 10, 11, 12, 13; user 1: nothing; user 2: 20
    seqs = build_sequences(
        np.array([0, 2, 0, 0, 0]), np.array([10, 20, 11, 12, 13]), np.arange(5), n_users=3
    )
    assert seqs.recent(np.array([0, 1, 2]), 3, PAD).tolist() == [
        [11, 12, 13],
        [PAD, PAD, PAD],
        [PAD, PAD, 20],
    ]
    # prefixes never cross into another user's items
    assert seqs.prefixes(np.array([0, 2, 4]), 2, PAD).tolist() == [
        [PAD, PAD],
        [10, 11],
        [PAD, PAD],
    ]
    # every position but a user's first is a next-item example
    assert seqs.trainable_positions().tolist() == [1, 2, 3]


def test_leave_one_out_takes_the_last_items_of_the_sequence_even_on_timestamp_ties():
    ds = tied_dataset()
    split = make_split(ds, "leave-one-out", seed=3)
    seqs = dataset_sequences(ds)
    u0 = int(ds.user_index()["u0"])
    user_rows = np.flatnonzero(ds.interactions["user"].to_numpy() == u0)
    label_of = dict(zip(names(ds, ds.interactions["item"].to_numpy()[user_rows]),
                        split.labels[user_rows], strict=True))  # fmt: skip
    # e and f share the last timestamp: the one later in the file is the test item
    assert names(ds, seqs.of(u0))[-2:] == ["e", "f"]
    assert label_of["f"] == TEST and label_of["e"] == VALID
    for seed in range(5):  # not a seeded coin flip
        assert (make_split(ds, "leave-one-out", seed=seed).labels == split.labels).all()


def test_windows_cover_every_next_item_example_exactly_once():
    rng = np.random.default_rng(0)
    users = rng.integers(0, 6, size=50)
    seqs = build_sequences(users, rng.integers(0, 9, size=50), rng.integers(0, 5, size=50), 7)
    length = 4
    ends = seqs.window_ends(length)
    starts = seqs.indptr[seqs.owners[ends]]
    # the targets of the window ending at p: positions (p - length, p], never a first item
    targets = ends[:, None] - np.arange(length)[::-1]
    targets = targets[targets > starts[:, None]]
    assert np.sort(targets).tolist() == seqs.trainable_positions().tolist()


def test_an_empty_history_is_all_padding():
    """``encode_history([])`` builds its window from sequences with no item at all."""
    empty = build_sequences(np.zeros(0, np.int64), np.zeros(0, np.int64), None, 1)
    assert empty.recent(np.array([0]), 4, pad=99).tolist() == [[99, 99, 99, 99]]
