from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest

from fusionrec.data import load_dataset
from fusionrec.data.readers import read_generic, read_mmrec
from fusionrec.errors import DataError


def test_movielens_mm_bundle_counts_and_duplicates(data_root, caplog):
    with caplog.at_level(logging.WARNING):
        ds = load_dataset("movielens-100k-mm")
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (943, 1682, 99815)
    assert ds.items["item_id"].is_unique
    warning = [r.message for r in caplog.records if "duplicate item rows" in r.message]
    assert warning and "64 duplicate item rows for 55 item ids" in warning[0]
    assert any("duplicate item rows" in line for line in ds.log)
    assert ds.items["image_path"].notna().sum() == 1663
    assert ds.items["overview"].isna().sum() == 18
    star_wars = ds.items.loc[ds.items["item_id"] == 50].iloc[0]
    assert star_wars["title"] == "Star Wars (1977)" and "SciFi" in star_wars["genres"]


def test_id_mapping_round_trips(data_root):
    ds = load_dataset("movielens-100k-mm")
    raw = pd.read_csv(data_root / "movielens-100k-mm" / "ratings.csv")
    inter = ds.interactions
    assert np.array_equal(ds.user_ids[inter["user"].to_numpy()], raw["user_id"].to_numpy())
    assert np.array_equal(ds.item_ids[inter["item"].to_numpy()], raw["movie_id"].to_numpy())
    assert inter["user"].max() == ds.n_users - 1


def test_movielens_original_files(data_root):
    ds = load_dataset("movielens-100k")
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (943, 1682, 100000)
    assert ds.users is not None and {"age", "occupation"} <= set(ds.users.columns)
    assert ds.items.loc[0, "genres"] == "Animation|Children|Comedy"


def test_mmrec_atomic_amazon_baby(data_root):
    ds = load_dataset("amazon-baby")
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (19445, 7050, 160792)
    assert np.bincount(ds.interactions["label"]).tolist() == [118551, 21682, 20559]


def test_mmrec_features_extend_item_table(tmp_path):
    (tmp_path / "toy.inter").write_text("userID\titemID\tx_label\n0\t0\t0\n0\t1\t2\n1\t1\t0\n")
    np.save(tmp_path / "image_feat.npy", np.ones((4, 3), dtype=np.float32))
    ds = read_mmrec(tmp_path)
    assert ds.n_items == 4  # feature rows cover items never interacted with
    assert ds.source["features"] == {"image": str(tmp_path / "image_feat.npy")}


@pytest.mark.parametrize("fmt", ["csv", "tsv", "parquet", "jsonl"])
def test_generic_formats_with_column_mapping(tmp_path, fmt):
    frame = pd.DataFrame(
        {"who": ["a", "a", "b"], "what": ["x", "y", "x"], "stars": [5, 3, 4], "t": [1, 2, 3]}
    )
    path = tmp_path / f"inter.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "tsv":
        frame.to_csv(path, index=False, sep="\t")
    elif fmt == "parquet":
        frame.to_parquet(path)
    else:
        path.write_text("\n".join(json.dumps(r) for r in frame.to_dict("records")))
    items = tmp_path / "items.csv"
    pd.DataFrame({"sku": ["x", "y", "z"], "name": ["X", "Y", None]}).to_csv(items, index=False)
    ds = read_generic(
        path,
        columns={"user": "who", "item": "what", "rating": "stars", "timestamp": "t"},
        items_path=items,
        item_columns={"item": "sku"},
        text_fields=["name"],
    )
    assert ds.n_users == 2 and ds.n_items == 3  # item z has content but no interactions
    assert ds.interactions["rating"].tolist() == [5, 3, 4]
    assert ds.item_ids[ds.interactions["item"]].tolist() == ["x", "y", "x"]


@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".xz"])
def test_compressed_text_files_read_as_the_plain_ones(tmp_path, suffix):
    import bz2
    import gzip
    import lzma

    compress = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress}[suffix]
    plain = {
        "csv": b"user_id,item_id,rating\nu1,i1,5\nu2,i2,4\nu1,i2,3\n",
        "jsonl": b'{"user_id": "u1", "item_id": "i1"}\n{"user_id": "u2", "item_id": "i2"}\n',
    }
    for fmt, data in plain.items():
        (tmp_path / f"r.{fmt}").write_bytes(data)
        (tmp_path / f"r.{fmt}{suffix}").write_bytes(compress(data))
        a, b = (load_dataset(tmp_path / f"r.{fmt}{end}") for end in ("", suffix))
        pd.testing.assert_frame_equal(a.interactions, b.interactions)
        assert a.item_ids.tolist() == b.item_ids.tolist()


def test_missing_column_names_file_and_columns(tmp_path):
    path = tmp_path / "inter.csv"
    path.write_text("user_id,product\n1,2\n")
    with pytest.raises(DataError) as err:
        read_generic(path)
    assert str(path) in str(err.value) and "item_id" in str(err.value)


def test_non_numeric_rating_names_line_and_column(tmp_path):
    path = tmp_path / "inter.csv"
    path.write_text("user_id,item_id,rating\n1,2,5\n1,3,4\n2,3,five\n")
    with pytest.raises(DataError) as err:
        read_generic(path)
    assert err.value.line == 4 and err.value.column == "rating"
    assert "'five'" in str(err.value) and str(path) in str(err.value)


def test_non_numeric_timestamp(tmp_path):
    path = tmp_path / "inter.tsv"
    path.write_text("user_id\titem_id\ttimestamp\n1\t2\tyesterday\n")
    with pytest.raises(DataError, match="line 2.*timestamp"):
        read_generic(path)


def test_missing_directory_is_clear(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("x", path=tmp_path / "nowhere")


def test_unknown_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="neither a known dataset") as far_off:
        load_dataset("no-such-dataset")
    assert "did you mean" not in str(far_off.value)
    with pytest.raises(DataError, match=r"\(did you mean 'movielens-100k-mm'\?\)"):
        load_dataset("movielens-100k-nm")


def test_fusionrec_data_env_var(tmp_path, monkeypatch):
    folder = tmp_path / "amazon-baby"
    folder.mkdir()
    (folder / "baby.inter").write_text("userID\titemID\tx_label\n0\t0\t0\n")
    monkeypatch.setenv("FUSIONREC_DATA", str(tmp_path))
    ds = load_dataset("amazon-baby")
    assert len(ds.interactions) == 1


def test_bad_split_label_in_inter(tmp_path):
    (tmp_path / "toy.inter").write_text("userID\titemID\tx_label\n0\t0\t0\n0\t1\t7\n")
    with pytest.raises(DataError) as err:
        read_mmrec(tmp_path)
    assert err.value.line == 3 and err.value.column == "x_label"
