from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fusionrec.encoders import load_precomputed
from fusionrec.errors import DataError

ITEM_IDS = np.array([10, 20, 30, 40])


def test_npy_rows_are_item_indices(tmp_path):
    matrix = np.arange(12, dtype=np.float64).reshape(4, 3)
    np.save(tmp_path / "text_feat.npy", matrix)
    mod = load_precomputed("text", tmp_path / "text_feat.npy", ITEM_IDS)
    assert mod.matrix.dtype == np.float32 and mod.mask.all()
    np.testing.assert_array_equal(mod.matrix, matrix)
    assert mod.encoder_id == "precomputed:text_feat.npy"


def test_row_count_mismatch_names_file_and_counts(tmp_path):
    np.save(tmp_path / "image_feat.npy", np.zeros((3, 2)))
    with pytest.raises(DataError, match=r"image_feat\.npy.*3 rows.*4 items"):
        load_precomputed("image", tmp_path / "image_feat.npy", ITEM_IDS)


def test_nan_or_inf_names_the_first_bad_row(tmp_path):
    matrix = np.ones((4, 2))
    matrix[2, 1] = np.nan
    matrix[3, 0] = np.inf
    np.save(tmp_path / "f.npy", matrix)
    with pytest.raises(DataError, match=r"f\.npy.*2 rows, first at row 2"):
        load_precomputed("x", tmp_path / "f.npy", ITEM_IDS)


def test_npz_with_ids_is_aligned_and_missing_items_are_masked(tmp_path):
    np.savez(
        tmp_path / "f.npz",
        features=np.array([[3.0, 3.0], [1.0, 1.0]]),
        item_id=np.array([30, 10]),
    )
    mod = load_precomputed("audio", tmp_path / "f.npz", ITEM_IDS)
    assert mod.mask.tolist() == [True, False, True, False]
    np.testing.assert_array_equal(mod.matrix[:, 0], [1.0, 0.0, 3.0, 0.0])


def test_npz_mask_is_honoured(tmp_path):
    np.savez(tmp_path / "f.npz", matrix=np.ones((4, 2)), mask=np.array([1, 0, 1, 1], bool))
    mod = load_precomputed("x", tmp_path / "f.npz", ITEM_IDS)
    assert mod.mask.tolist() == [True, False, True, True] and not mod.matrix[1].any()


@pytest.mark.parametrize(
    ("rows", "ids", "message"),
    [
        (4, [20, 30, 10], "4 feature rows but 3 item ids"),
        (2, [10, 20, 30], "2 feature rows but 3 item ids"),
        (3, [10.0, 20.5, 30.0], r"not whole numbers, e\.g\. \[20\.5\]"),
    ],
)
def test_npz_ids_must_name_each_row_exactly(tmp_path, rows, ids, message):
    features = np.arange(rows, dtype=np.float32)[:, None]
    np.savez(tmp_path / "f.npz", features=features, item_id=np.array(ids))
    with pytest.raises(DataError, match=message):
        load_precomputed("x", tmp_path / "f.npz", np.array([10, 20, 30]))


def test_unknown_ids_are_an_error_naming_them(tmp_path):
    frame = pd.DataFrame({"item_id": [10, 99], "f0": [1.0, 2.0], "f1": [0.0, 1.0]})
    frame.to_parquet(tmp_path / "f.parquet")
    with pytest.raises(DataError, match=r"f\.parquet.*not in the catalogue.*99"):
        load_precomputed("x", tmp_path / "f.parquet", ITEM_IDS)


def test_parquet_list_column_with_custom_id_column(tmp_path):
    frame = pd.DataFrame(
        {"asin": ["40", "20"], "vec": [np.array([4.0, 4.0, 4.0]), np.array([2.0, 2.0, 2.0])]}
    )
    frame.to_parquet(tmp_path / "f.parquet")
    mod = load_precomputed("image", tmp_path / "f.parquet", ITEM_IDS, id_column="asin")
    assert mod.dim == 3 and mod.mask.tolist() == [False, True, False, True]
    np.testing.assert_array_equal(mod.matrix[:, 0], [0.0, 2.0, 0.0, 4.0])


def test_parquet_numeric_columns_without_ids_are_row_aligned(tmp_path):
    pd.DataFrame(np.eye(4), columns=["a", "b", "c", "d"]).to_parquet(tmp_path / "f.parquet")
    mod = load_precomputed("x", tmp_path / "f.parquet", ITEM_IDS)
    np.testing.assert_array_equal(mod.matrix, np.eye(4))


def test_missing_file_and_unknown_type_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_precomputed("x", tmp_path / "none.npy", ITEM_IDS)
    (tmp_path / "f.csv").write_text("1,2\n")
    with pytest.raises(DataError, match="unsupported"):
        load_precomputed("x", tmp_path / "f.csv", ITEM_IDS)
