from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fusionrec.data import Split, build_dataset, clean, make_split
from fusionrec.data.cleaning import deduplicate, kcore, to_implicit
from fusionrec.data.split import TEST, TRAIN, VALID
from fusionrec.errors import DataError


def toy(n_users=30, n_items=40, per_user=12, seed=0, ts=True):
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        for t, i in enumerate(rng.choice(n_items, per_user, replace=False)):
            rows.append((f"u{u}", f"i{i}", float(rng.integers(1, 6)), 1000 * u + t))
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    if not ts:
        frame = frame.drop(columns="timestamp")
    return build_dataset("toy", frame)


def test_implicit_threshold_counts_drops():
    ds = toy()
    out = to_implicit(ds, 4)
    assert (out.interactions["rating"] >= 4).all()
    dropped = int((ds.interactions["rating"] < 4).sum())
    assert f"dropped {dropped}" in out.log[-1]


def test_deduplicate_keeps_latest():
    frame = pd.DataFrame(
        {
            "user_id": [1, 1, 2],
            "item_id": [5, 5, 5],
            "rating": [1.0, 5.0, 3.0],
            "timestamp": [10, 20, 5],
        }
    )
    out = deduplicate(build_dataset("d", frame))
    assert len(out.interactions) == 2
    assert out.interactions.loc[out.interactions["user"] == 0, "rating"].item() == 5.0
    assert "dropped 1" in out.log[-1]


def test_kcore_is_iterative_and_reindexes():
    # user c has 1 interaction -> dropped; then item z has 1 -> dropped; then user b has 1 ...
    frame = pd.DataFrame({"user_id": list("aaabbc"), "item_id": ["x", "y", "z", "x", "y", "z"]})
    out = kcore(build_dataset("k", frame), user_k=2, item_k=2)
    assert set(out.user_ids) == {"a", "b"} and set(out.item_ids) == {"x", "y"}
    assert out.interactions["item"].max() == out.n_items - 1
    assert "dropped 2 interactions, 1 users, 1 items" in out.log[-1]


def test_empty_after_filtering_is_an_error():
    with pytest.raises(DataError, match="empty"):
        clean(toy(per_user=3), kcore_user=50)


def test_random_split_ratios_and_seed():
    ds = toy()
    a, b = make_split(ds, "random", seed=1), make_split(ds, "random", seed=1)
    c = make_split(ds, "random", seed=2)
    assert np.array_equal(a.labels, b.labels) and not np.array_equal(a.labels, c.labels)
    per_user = pd.crosstab(ds.interactions["user"], a.labels)
    assert (per_user[VALID] == 1).all() and (per_user[TEST] == 1).all()  # round(1.2) = 1
    assert (per_user[TRAIN] == 10).all()


def test_temporal_split_puts_latest_in_test():
    ds = toy()
    s = make_split(ds, "temporal")
    inter = ds.interactions.assign(label=s.labels)
    for _, g in inter.groupby("user"):
        assert (
            g.loc[g.label == TEST, "timestamp"].min() > g.loc[g.label == VALID, "timestamp"].max()
        )
        assert (
            g.loc[g.label == VALID, "timestamp"].min() > g.loc[g.label == TRAIN, "timestamp"].max()
        )


def test_temporal_needs_timestamps():
    with pytest.raises(DataError, match="timestamps"):
        make_split(toy(ts=False), "temporal")


def test_leave_one_out():
    ds = toy()
    s = make_split(ds, "leave-one-out")
    assert s.counts() == {"train": 30 * 10, "valid": 30, "test": 30}
    inter = ds.interactions.assign(label=s.labels)
    last = inter.sort_values("timestamp").groupby("user").tail(1)
    assert (last["label"] == TEST).all()


def test_leave_one_out_without_timestamps_follows_the_file():
    """The order user sequences follow: the test item is the user's last row, not a random one."""
    ds = toy(ts=False)
    labels = pd.Series(make_split(ds, "leave-one-out").labels).groupby(ds.interactions["user"])
    assert (labels.nth(-1) == TEST).all() and (labels.nth(-2) == VALID).all()
    assert (labels.head(10) == TRAIN).all()


def test_a_saved_split_keeps_the_labels_of_repeated_interactions(tmp_path):
    """Repeat consumption (no dedupe): the second viewing is test, the first stays in train."""
    rows = [(f"u{u}", f"i{i}", 10 * u + t) for u in range(4) for t, i in enumerate([1, 2, 3, 1])]
    ds = build_dataset("repeats", pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]))
    split = make_split(ds, "leave-one-out")
    assert split.counts() == {"train": 8, "valid": 4, "test": 4}
    split.save(tmp_path, ds)
    assert np.array_equal(Split.load(tmp_path, ds).labels, split.labels)


def test_cold_item_split_withholds_items_from_training():
    ds = toy()
    s = make_split(ds, "cold-items", cold_fraction=0.25, seed=3)
    train_items = set(ds.interactions["item"][s.labels == TRAIN])
    assert not train_items & set(s.cold_items.tolist())
    held = set(ds.interactions["item"][s.labels != TRAIN])
    assert held == set(s.cold_items.tolist())


def test_split_save_and_reload(tmp_path):
    ds = toy()
    s = make_split(ds, "cold-items", seed=5)
    s.save(tmp_path, ds)
    again = Split.load(tmp_path, ds)
    assert np.array_equal(again.labels, s.labels)
    assert np.array_equal(np.sort(again.cold_items), np.sort(s.cold_items))


def test_predefined_split_file_with_unknown_user(tmp_path, movielens_mm):
    path = tmp_path / "bad.inter"
    path.write_text("userID\titemID\tx_label\n1\t1\t0\n99999\t1\t2\n")
    with pytest.raises(DataError) as err:
        make_split(movielens_mm, "predefined", path=path)
    assert err.value.line == 3 and err.value.column == "user_id" and "99999" in str(err.value)


def test_canonical_movielens_split_file(data_root, movielens_mm):
    s = make_split(
        movielens_mm, "predefined", path=data_root / "movielens-100k-mm" / "split-8-1-1.inter"
    )
    assert s.counts() == {"train": 79873, "valid": 9971, "test": 9971}


def test_saved_split_for_other_dataset_is_rejected(tmp_path):
    a, b = toy(seed=0), toy(seed=1, n_users=31)
    make_split(b, "random").save(tmp_path, b)
    with pytest.raises(DataError):
        Split.load(tmp_path, a)


@pytest.mark.parametrize(
    ("ratios", "part"), [((0.8, 0.0, 0.2), "valid"), ((0.9, 0.1, 0.0), "test")]
)
def test_a_split_with_an_empty_part_is_refused(ratios, part):
    with pytest.raises(DataError, match=f"left no {part} interactions"):
        make_split(toy(), "random", ratios=ratios)


def test_leave_one_out_with_only_short_histories_says_why():
    rows = [(f"u{u}", f"i{i}", i) for u in range(3) for i in range(2)]
    ds = build_dataset("short", pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]))
    with pytest.raises(DataError, match="at least 3"):
        make_split(ds, "leave-one-out")
