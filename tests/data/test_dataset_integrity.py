"""Nothing lost or crashed between the files and the split: repeated table rows, list cells,
skipped text-table rows, k-core on one side only, a split file given with another method,
and repeated (user, item) pairs that would sit in both train and test."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from fusionrec.config import DatasetConfig
from fusionrec.data import Split, build_dataset, load_dataset, make_split
from fusionrec.data.registry import CLEANING_DEFAULTS
from fusionrec.data.split import TEST, TRAIN, VALID
from fusionrec.errors import DataError


def write(path, text):
    path.write_text(text)
    return str(path)


# -- repeated rows in the user and item tables (defects 4, 5) ------------------------------
def test_repeated_user_rows_keep_the_first_and_are_logged(tmp_path, caplog):
    inter = write(tmp_path / "i.csv", "user_id,item_id\nu1,i1\nu2,i2\nu3,i1\n")
    users = write(tmp_path / "users.csv", "user_id,age\nu1,20\nu2,30\nu1,20\nu2,31\n")
    with caplog.at_level(logging.WARNING, logger="fusionrec.data.readers"):
        ds = load_dataset(inter, users_path=users)
    assert ds.user_ids.tolist() == ["u1", "u2", "u3"]
    assert ds.users["age"].tolist()[:2] == [20, 30]  # the first row of each id
    message = next(line for line in ds.log if "duplicate user rows" in line)
    assert "users.csv: 2 duplicate user rows for 2 user ids" in message
    assert "ids ['u1', 'u2']" in message and "rows differ in content for ids ['u2']" in message
    assert message in caplog.text


def test_repeated_identical_user_rows_say_so(tmp_path):
    inter = write(tmp_path / "i.csv", "user_id,item_id\nu1,i1\nu2,i2\n")
    users = write(tmp_path / "users.csv", "user_id,age\nu1,20\nu2,30\nu1,20\n")
    ds = load_dataset(inter, users_path=users)
    assert ds.n_users == 2
    assert any("(the repeated rows are identical)" in line for line in ds.log)


def test_jsonl_item_table_with_list_cells_and_a_repeated_id(tmp_path):
    inter = write(tmp_path / "i.csv", "user_id,item_id\nu1,i1\nu2,i2\n")
    items = write(
        tmp_path / "items.jsonl",
        '{"item_id":"i1","cats":["a","b"],"meta":{"k":[1]}}\n'
        '{"item_id":"i2","cats":["a"],"meta":{"k":[2]}}\n'
        '{"item_id":"i1","cats":["a","b"],"meta":{"k":[1]}}\n'
        '{"item_id":"i2","cats":["c"],"meta":{"k":[2]}}\n',
    )
    ds = load_dataset(inter, items_path=items)
    assert ds.item_ids.tolist() == ["i1", "i2"]
    assert ds.items["cats"].tolist() == [["a", "b"], ["a"]]
    message = next(line for line in ds.log if "duplicate item rows" in line)
    assert "2 duplicate item rows for 2 item ids" in message
    assert "rows differ in content for ids ['i2']" in message


def test_build_dataset_with_a_repeated_table_id_is_a_clear_error():
    frame = pd.DataFrame({"user_id": ["u1"], "item_id": ["i1"]})
    users = pd.DataFrame({"user_id": ["u1", "u1"]})
    with pytest.raises(DataError, match=r"user table repeats 1 user_id value\(s\), e.g. \['u1'\]"):
        build_dataset("d", frame, users=users)


# -- item_text_tables under on_bad_rows: skip (defect 8) -----------------------------------
def test_item_text_tables_honour_on_bad_rows_skip(tmp_path, caplog):
    inter = write(tmp_path / "i.csv", "user_id,item_id\nu1,i1\nu2,i2\n")
    tags = write(tmp_path / "tags.csv", "item_id,tag\ni1,soft\ni2,x,extra\n,orphan\ni2,red\n")
    options = {"item_text_tables": [{"path": tags, "column": "tag"}]}
    with pytest.raises(DataError, match="tags.csv, line 3"):
        load_dataset(inter, **options)
    with caplog.at_level(logging.WARNING, logger="fusionrec.data.readers"):
        ds = load_dataset(inter, on_bad_rows="skip", **options)
    assert ds.items.set_index("item_id")["tag"].to_dict() == {"i1": "soft", "i2": "red"}
    message = next(line for line in ds.log if "tags.csv: skipped" in line)
    assert "skipped 2 bad rows" in message and "line 3: 'i2,x,extra'" in message
    assert "line 4:" in message and message in caplog.text


# -- k-core on one side only (defect 9) ----------------------------------------------------
def _kcore_files(tmp_path):
    inter = write(tmp_path / "j.csv", "user_id,item_id\n1,10\n1,11\n2,10\n2,11\n3,11\n")
    items = write(tmp_path / "ji.csv", "item_id,title\n10,a\n11,b\n12,cold\n")
    users = write(tmp_path / "ju.csv", "user_id,age\n1,20\n2,30\n3,40\n4,50\n")
    return inter, {"items_path": items, "users_path": users}


def test_kcore_user_alone_keeps_every_catalogue_item(tmp_path):
    inter, tables = _kcore_files(tmp_path)
    ds = load_dataset(inter, kcore_user=2, **tables)
    assert ds.item_ids.tolist() == [10, 11, 12]  # the cold item 12 stays
    assert ds.user_ids.tolist() == [1, 2]  # user 3 (1 interaction) and 4 (none) go
    assert "2 users, 0 items" in ds.log[-1]


def test_kcore_item_alone_keeps_every_user_of_the_users_table(tmp_path):
    inter, tables = _kcore_files(tmp_path)
    ds = load_dataset(inter, kcore_item=3, **tables)
    assert ds.item_ids.tolist() == [11]
    assert ds.user_ids.tolist() == [1, 2, 3, 4]
    assert ds.item_ids[ds.interactions["item"]].tolist() == [11, 11, 11]


def test_kcore_threshold_of_one_still_drops_items_left_without_interactions(tmp_path):
    inter, tables = _kcore_files(tmp_path)
    ds = load_dataset(inter, kcore_user=2, kcore_item=1, **tables)
    assert ds.item_ids.tolist() == [10, 11] and ds.user_ids.tolist() == [1, 2]


# -- split.path with another method (defect 10) --------------------------------------------
def test_make_split_with_a_path_and_another_method_is_an_error(tmp_path):
    rows = "".join(f"{u},{k}\n" for u in range(5) for k in range(6))
    ds = load_dataset(write(tmp_path / "l.csv", "user_id,item_id\n" + rows))
    labels = "".join(f"{u}\t{k}\t{max(0, k - 3)}\n" for u in range(5) for k in range(6))
    path = write(tmp_path / "l.inter", "userID\titemID\tx_label\n" + labels)
    for method in ("random", "temporal", "leave-one-out", "cold-items"):
        with pytest.raises(DataError, match=f"l.inter'.*the split method is '{method}'"):
            make_split(ds, method, path=path)
    assert make_split(ds, "predefined", path=path).counts()["test"] == 5
    assert make_split(ds, "auto", path=path).method == "predefined"


# -- repeated (user, item) pairs: the loader's defaults and the split's warning (defect 12) --
def _repeats(tmp_path):
    rows = "".join(f"1,{k}\n1,{k}\n" for k in range(10))
    return write(tmp_path / "m.csv", "user_id,item_id\n" + rows)


def test_load_dataset_cleans_with_a_configs_defaults(tmp_path):
    assert CLEANING_DEFAULTS == {k: DatasetConfig().model_dump()[k] for k in CLEANING_DEFAULTS}
    path = _repeats(tmp_path)
    ds = load_dataset(path)
    assert len(ds.interactions) == 10
    assert "deduplicate: dropped 10 repeated (user, item) interactions" in ds.log
    config = load_dataset(DatasetConfig(name="m", path=path))
    assert config.interactions.equals(ds.interactions)
    assert len(load_dataset(path, dedupe=False).interactions) == 20  # still on offer


def test_split_warns_about_valid_and_test_pairs_that_are_in_train(tmp_path, caplog):
    ds = load_dataset(_repeats(tmp_path), dedupe=False)
    with caplog.at_level(logging.WARNING, logger="fusionrec.data.split"):
        split = make_split(ds, "random", seed=3)
    keys = ds.interactions["item"].to_numpy()
    in_train = np.isin(keys, keys[split.labels == TRAIN])
    n_valid = int((in_train & (split.labels == VALID)).sum())
    n_test = int((in_train & (split.labels == TEST)).sum())
    assert n_valid + n_test > 0
    (message,) = split.log
    assert f"{n_valid} valid and {n_test} test interactions repeat a (user, item) pair" in message
    assert "cannot be hit" in message and "dedupe: true" in message
    assert message in caplog.text
    split.save(tmp_path / "run", ds)
    assert Split.load(tmp_path / "run", ds).log == [message]
    clean = load_dataset(_repeats(tmp_path))
    assert make_split(clean, "random", seed=3).log == []
