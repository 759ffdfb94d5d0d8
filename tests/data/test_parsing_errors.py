"""Parsing defects: ids that do not fit int64, stray quotes, line numbers, JSON lines."""

from __future__ import annotations

import numpy as np
import pytest

from fusionrec.data import load_dataset, tables
from fusionrec.data.readers import read_mmrec
from fusionrec.errors import DataError

BIG = ["123456789012345678901", "123456789012345678902", "18446744073709551615"]


def _skip_log(ds) -> str:
    return next(line for line in ds.log if "skipped" in line)


# -- ids beyond int64 -----------------------------------------------------------------------
def test_integer_ids_beyond_int64_stay_distinct_text(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("user_id,item_id\n" + "".join(f"{k},{i}\n" for k, i in enumerate(BIG)))
    ds = load_dataset(str(path))
    assert sorted(ds.item_ids.tolist()) == sorted(BIG)
    with pytest.raises(DataError, match=r"line 2, column 'item_id'.*ids_as: str"):
        load_dataset(str(path), ids_as="int")


def test_json_integers_beyond_uint64_are_not_wrapped_around(tmp_path):
    path = tmp_path / "big.jsonl"
    ids = [*BIG, "-18446744073709551616", "7"]
    path.write_text("".join(f'{{"user_id": "u", "item_id": {i}}}\n' for i in ids))
    assert sorted(load_dataset(str(path), dedupe=False).item_ids.tolist()) == sorted(ids)


def test_large_int_ids_next_to_a_skipped_row_are_not_rounded(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("user_id,item_id\n1,9007199254740993\n2,\n3,9007199254740992\n")
    ds = load_dataset(str(path), on_bad_rows="skip")
    assert sorted(ds.item_ids.tolist()) == [9007199254740992, 9007199254740993]


def test_non_whole_number_ids_become_text_without_merging(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_text('{"user_id":1,"item_id":2.5}\n{"user_id":2,"item_id":3}\n')
    assert sorted(load_dataset(str(path)).item_ids.tolist()) == ["2.5", "3"]
    path.write_text('{"user_id":1,"item_id":2.0}\n{"user_id":2,"item_id":3}\n')
    assert load_dataset(str(path)).item_ids.tolist() == [2, 3]  # whole numbers stay integers


# -- stray quotes ---------------------------------------------------------------------------
QUOTED = 'user_id,item_id,rating\nu1,"i1,5\nu2,i2,4\nu3,i3",3\nu4,i4,2\n'


def test_stray_quote_swallowing_lines_into_an_id_is_an_error(tmp_path):
    path = tmp_path / "quote.csv"
    path.write_text(QUOTED)
    with pytest.raises(DataError, match=r"line 2, column 'item_id'.*unbalanced quote"):
        load_dataset(str(path))
    ds = load_dataset(str(path), on_bad_rows="skip")
    assert ds.item_ids.tolist() == ["i4"]
    message = _skip_log(ds)
    assert "skipped 1 bad rows" in message and "line 2: 'u1,\"i1,5'" in message
    assert "lines 2-4 (3 lines)" in message


def test_quote_never_closed_names_its_line(tmp_path):
    path = tmp_path / "eof.csv"
    path.write_text('user_id,item_id\n1,2\n\n3,"4\n5,6\n')
    with pytest.raises(DataError, match=r"line 4: a quote opened on this line is never closed"):
        load_dataset(str(path))


# -- line numbers ---------------------------------------------------------------------------
def test_line_numbers_count_blank_lines_and_quoted_line_breaks(tmp_path):
    path = tmp_path / "blank.csv"
    path.write_text("user_id,item_id,rating\n1,1,5\n\n2,2,4\n3,3,five\n")
    with pytest.raises(DataError, match=r"line 5, column 'rating'"):
        load_dataset(str(path))
    path.write_text('user_id,item_id,note,rating\n1,1,"two\nlines",5\n2,2,x,five\n')
    with pytest.raises(DataError, match=r"line 4, column 'rating'"):
        load_dataset(str(path))
    path.write_text('user_id,item_id,note\n1,1,"two\nlines"\n2,2,x,extra\n')
    with pytest.raises(DataError, match=r"line 4: expected 3 fields, found 4"):
        load_dataset(str(path))


def test_a_split_file_names_the_real_line_of_an_unknown_id(tmp_path):
    from fusionrec.data import make_split

    data = tmp_path / "r.csv"
    data.write_text(
        "user_id,item_id\n" + "".join(f"u{u},i{i}\n" for u in range(3) for i in range(4))
    )
    labels = tmp_path / "split.inter"
    rows = [f"u{u}\ti{i}\t{min(i, 2)}" for u in range(3) for i in range(4)]
    rows[5] = "u1\tnope\t0"  # row 6 of the table, line 9 of the file: header, two blanks
    labels.write_text(
        "userID\titemID\tx_label\n\n" + "\n".join(rows[:3]) + "\n\n" + "\n".join(rows[3:]) + "\n"
    )
    with pytest.raises(DataError, match=r"split.inter, line 9, column 'item_id'"):
        make_split(load_dataset(str(data)), "predefined", path=labels)


def test_skipped_rows_are_listed_by_their_real_line(tmp_path):
    path = tmp_path / "skip.csv"
    path.write_text("user_id,item_id,rating\n1,1,5\n\n2,2,4\n3,3,4,extra\n4,4,five\n5,5,3\n")
    message = _skip_log(load_dataset(str(path), on_bad_rows="skip"))
    assert "line 5: '3,3,4,extra'" in message and "line 6: '4,4,five'" in message


def test_valid_files_are_not_read_twice_for_line_numbers(tmp_path, monkeypatch):
    def fail(self):
        raise AssertionError("re-read a valid file")

    monkeypatch.setattr(tables._Records, "_scan", fail)
    path = tmp_path / "ok.csv"
    path.write_text('user_id,item_id,note\n1,1,"two\nlines"\n\n2,2,x\n')
    assert len(load_dataset(str(path)).interactions) == 2
    (tmp_path / "ok.jsonl").write_text('{"user_id":1,"item_id":1}\n\n{"user_id":2,"item_id":2}\n')
    assert len(load_dataset(str(tmp_path / "ok.jsonl")).interactions) == 2


# -- MMRec ids ------------------------------------------------------------------------------
@pytest.mark.parametrize(("cell", "line"), [("B00X", 2), ("-1", 3)])
def test_mmrec_ids_that_are_not_indices_are_a_clear_error(tmp_path, cell, line):
    rows = [("1", cell, "0"), ("2", "3", "2")] if line == 2 else [("1", "0", "0"), ("2", cell, "2")]
    path = tmp_path / "g.inter"
    path.write_text("userID\titemID\tx_label\n" + "".join("\t".join(r) + "\n" for r in rows))
    with pytest.raises(DataError, match=rf"line {line}, column 'itemID'.*integer indices"):
        read_mmrec(path)


def test_mmrec_integer_ids_are_unchanged(tmp_path):
    path = tmp_path / "g.inter"
    path.write_text("userID\titemID\tx_label\n1\t3\t0\n2\t1\t2\n")
    ds = read_mmrec(path)
    assert ds.item_ids.tolist() == [0, 1, 2, 3] and ds.item_ids.dtype == np.int64


# -- JSON lines -----------------------------------------------------------------------------
def test_bad_json_line_is_named_and_skippable(tmp_path):
    path = tmp_path / "e.jsonl"
    path.write_text(
        '{"user_id":1,"item_id":2}\n{"user_id":2,"item_id":3}\n{"user_id":3,"item_id":\n'
    )
    with pytest.raises(DataError, match=r"e\.jsonl, line 3: not valid JSON"):
        load_dataset(str(path))
    ds = load_dataset(str(path), on_bad_rows="skip")
    assert len(ds.interactions) == 2
    message = _skip_log(ds)
    assert 'line 3: \'{"user_id":3,"item_id":\'' in message and "not valid JSON" in message


def test_json_lines_that_are_not_objects_are_bad_rows(tmp_path):
    path = tmp_path / "l.jsonl"
    path.write_text('{"user_id":1,"item_id":2}\n\n[1, 2]\n')
    with pytest.raises(DataError, match=r"line 3: expected one JSON object"):
        load_dataset(str(path))
    assert len(load_dataset(str(path), on_bad_rows="skip").interactions) == 1


def test_json_lines_with_a_bom_and_blank_lines(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"user_id":"a","item_id":"b"}\n')
    ds = load_dataset(str(path))
    assert ds.user_ids.tolist() == ["a"] and ds.item_ids.tolist() == ["b"]
    path.write_text('{"user_id":1,"item_id":1}\n\n{"user_id":2,"item_id":""}\n')
    with pytest.raises(DataError, match=r"line 3, column 'item_id'"):
        load_dataset(str(path))


def test_a_semicolon_csv_is_read_with_sep_and_named_without_it(tmp_path):
    from fusionrec.config import DatasetConfig

    path = tmp_path / "r.csv"
    path.write_text("user_id;item_id;rating\nu1;i1;5\nu2;i2;4\n")
    with pytest.raises(DataError, match="holds ';' separators. Set dataset.sep: ';'"):
        load_dataset(str(path))
    config = DatasetConfig(name="semi", path=str(path), sep=";")  # a config can say it too
    assert load_dataset(config).item_ids.tolist() == ["i1", "i2"]
