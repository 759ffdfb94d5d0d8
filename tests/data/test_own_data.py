"""The user's own files, right the first time: each test builds a small file of the shape a
user reported and checks it is read as the docs promise."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fusionrec.config import DatasetConfig, SplitConfig, load_config
from fusionrec.data import Split, load_dataset, make_split
from fusionrec.data.examples import write_mmrec, write_movielens, write_retail
from fusionrec.data.readers import read_generic
from fusionrec.encoders.config import FeaturesConfig
from fusionrec.encoders.pipeline import extract_item_features
from fusionrec.errors import ConfigError, DataError

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


# -- MMRec: split labels and *_feat.npy ----------------------------------------------------
def test_mmrec_labels_are_the_default_split_and_the_log_says_so(tmp_path, caplog):
    folder = write_mmrec(tmp_path / "bench")
    ds = load_dataset(str(folder / "bench.inter"))
    assert SplitConfig().method == "auto"
    cfg = load_config(None, [f"dataset.path={folder}"])  # as `--data-path` does
    with caplog.at_level(logging.INFO, logger="fusionrec.data.split"):
        split = make_split(ds, cfg.split.method)
    assert split.method == "predefined"
    assert np.array_equal(split.labels, ds.interactions["label"].to_numpy())
    assert "split: predefined" in caplog.text and "x_label" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="fusionrec.data.split"):
        assert make_split(ds, "random").method == "random"
    assert "are not used" in caplog.text  # an explicit method wins, and says so


def test_mmrec_feat_files_are_the_modalities_features(tmp_path):
    folder = write_mmrec(tmp_path / "bench")
    ds = load_dataset({"path": str(folder), "kcore_item": 10})  # k-core re-indexes items
    assert ds.n_items < 40 and set(ds.precomputed) == {"image", "text", "audio"}
    features, _ = extract_item_features(ds, FeaturesConfig(), ["image", "audio"], progress=False)
    image = np.load(folder / "image_feat.npy")
    assert np.allclose(features["image"].matrix, image[ds.item_ids])  # row i = item id i
    assert features["audio"].dim == 8 and features["audio"].mask.all()


def test_mmrec_feat_file_too_short_is_a_clear_error(tmp_path):
    folder = write_mmrec(tmp_path / "bench")
    np.save(folder / "text_feat.npy", np.ones((10, 4), np.float32))
    with pytest.raises(DataError, match="text_feat.npy: has 10 rows but bench.inter has item"):
        load_dataset(str(folder))


def test_missing_image_column_points_at_precomputed(tmp_path):
    path = tmp_path / "inter.csv"
    path.write_text("user_id,item_id\n1,2\n2,3\n")
    with pytest.raises(ConfigError, match="features.precomputed: {image: "):
        extract_item_features(load_dataset(str(path)), FeaturesConfig(), ["image"], progress=False)


def test_cli_error_keeps_bracketed_config_in_hints(capsys, monkeypatch):
    import typer

    from fusionrec.cli.common import run_app

    app = typer.Typer()

    @app.command()
    def fail() -> None:
        raise DataError("no features", hint="Add 'features: {modalities: [text, image]}'")

    monkeypatch.setattr("sys.argv", ["fusionrec"])
    with pytest.raises(SystemExit) as exit_info:
        run_app(app)
    assert exit_info.value.code == 2
    assert "{modalities: [text, image]}" in " ".join(capsys.readouterr().err.split())


# -- generic files: id mapping, dates, ids, bad rows ---------------------------------------
def test_item_and_user_tables_use_the_id_mapping(tmp_path):
    (tmp_path / "t.csv").write_text("customer,article_id\nc1,a1\nc2,a2\n")
    (tmp_path / "articles.csv").write_text("article_id,name\na1,Shirt\na2,Sock\na3,Hat\n")
    (tmp_path / "customers.csv").write_text("customer,age\nc1,30\nc2,40\nc3,50\n")
    ds = load_dataset(
        str(tmp_path / "t.csv"),
        columns={"user": "customer", "item": "article_id"},
        items_path=str(tmp_path / "articles.csv"),
        users_path=str(tmp_path / "customers.csv"),
        text_fields=["name"],
    )
    assert ds.items.set_index("item_id")["name"].to_dict() == {
        "a1": "Shirt",
        "a2": "Sock",
        "a3": "Hat",
    }
    assert ds.n_users == 3 and ds.users["age"].tolist() == [30, 40, 50]


def test_spaces_around_ids_do_not_make_new_users_or_items(tmp_path, caplog):
    (tmp_path / "t.csv").write_text("customer,product\nc1,P1\n c1,P2\nc1 , P1 \n 7 ,P3\n")
    (tmp_path / "items.csv").write_text("product,name\nP1,Shirt\n P2 ,Sock\nP3,Hat\n")
    with caplog.at_level(logging.WARNING, logger="fusionrec.data.values"):
        ds = load_dataset(
            str(tmp_path / "t.csv"),
            columns={"user": "customer", "item": "product"},
            items_path=str(tmp_path / "items.csv"),
            text_fields=["name"],
            dedupe=False,
        )
    assert sorted(ds.user_ids.tolist()) == ["7", "c1"]
    assert sorted(ds.item_ids.tolist()) == ["P1", "P2", "P3"]
    assert ds.items.set_index("item_id")["name"].to_dict()["P2"] == "Sock"
    assert "t.csv, column 'customer': 3 ids have spaces around them (e.g. ' c1')" in caplog.text


def test_a_missing_media_folder_is_an_error_and_missing_files_a_warning(tmp_path, caplog):
    (tmp_path / "t.csv").write_text("user_id,item_id\nu1,a\nu1,b\nu2,c\n")
    (tmp_path / "items.csv").write_text("item_id,picture\na,a.jpg\nb,b.jpg\nc,\n")
    (tmp_path / "pics").mkdir()
    (tmp_path / "pics" / "a.jpg").write_bytes(b"x")
    options = {"items_path": str(tmp_path / "items.csv"), "image_column": "picture"}
    with pytest.raises(DataError, match="pictures.*media_dir is not a folder"):
        load_dataset(str(tmp_path / "t.csv"), media_dir=str(tmp_path / "pictures"), **options)
    with caplog.at_level(logging.WARNING, logger="fusionrec.data.content"):
        ds = load_dataset(str(tmp_path / "t.csv"), media_dir=str(tmp_path / "pics"), **options)
    missing = str(tmp_path / "pics" / "b.jpg")
    assert (
        f"1 of 3 items name a file that exists; 1 name a file that does not (e.g. {missing})"
        in caplog.text
    )
    assert "1 name none" in caplog.text
    assert (
        ds.items.set_index("item_id")["image_path"].to_dict()["b"] == missing
    )  # kept, masked later


def test_iso_dates_and_timestamp_format(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("user_id,item_id,t_dat\n1,2,2018-09-20\n1,3,2018-09-21T12:00:00+02:00\n")
    ds = read_generic(path, columns={"timestamp": "t_dat"})
    assert ds.interactions["timestamp"].tolist() == [1537401600, 1537524000]
    path.write_text("user_id,item_id,when\n1,2,20/09/2018\n")
    ds = read_generic(path, columns={"timestamp": "when"}, timestamp_format="%d/%m/%Y")
    assert ds.interactions["timestamp"].tolist() == [1537401600]
    path.write_text("user_id,item_id,when\n1,2,31/31/2018\n")
    with pytest.raises(DataError, match="line 2.*'when'.*timestamp_format"):
        read_generic(path, columns={"timestamp": "when"}, timestamp_format="%d/%m/%Y")


def test_ids_with_leading_zeros_stay_text_to_the_saved_split(tmp_path):
    path = tmp_path / "t.csv"
    rows = [f"{u},{i:010d}" for u in range(1, 5) for i in (669361001, 108775015, 7, 12)]
    path.write_text("user_id,item_id\n" + "\n".join(rows) + "\n")
    ds = load_dataset(str(path))
    assert "0669361001" in ds.item_ids.tolist()
    split = make_split(ds, "random", ratios=(0.5, 0.25, 0.25))
    split.save(tmp_path / "run", ds)
    saved = pd.read_parquet(tmp_path / "run" / "split.parquet")
    assert "0669361001" in saved["item_id"].tolist()
    assert np.array_equal(Split.load(tmp_path / "run", ds).labels, split.labels)
    assert load_dataset(str(path), ids_as="int").item_ids.dtype == np.int64
    path.write_text("user_id,item_id\n1,10\n2,20\n")
    assert load_dataset(str(path)).item_ids.dtype == np.int64  # plain integers stay integers
    assert load_dataset(str(path), ids_as="str").item_ids.tolist() == ["10", "20"]


def test_bad_rows_skip_counts_and_shows_them(tmp_path, caplog):
    path = tmp_path / "t.csv"
    path.write_text("user_id,item_id,rating\n1,2,5\n1,3,4,extra\n2,3,five\n2,4,3\n,5,1\n")
    with pytest.raises(DataError, match="line 3.*on_bad_rows: skip"):
        load_dataset(str(path))
    with caplog.at_level(logging.WARNING):
        ds = load_dataset(str(path), on_bad_rows="skip")
    assert len(ds.interactions) == 2 and ds.interactions["rating"].tolist() == [5, 3]
    message = next(line for line in ds.log if "skipped" in line)
    assert "skipped 3 bad rows" in message and message in caplog.text
    assert "line 3: '1,3,4,extra'" in message and "line 4: '2,3,five'" in message
    assert "line 6:" in message and "empty user_id" in message


def test_load_dataset_takes_a_config_a_mapping_or_a_path_with_options(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("who,what,stars\na,x,5\na,y,1\nb,x,4\n")
    options = {"columns": {"user": "who", "item": "what", "rating": "stars"}}
    cfg = DatasetConfig(name="mine", path=str(path), implicit_threshold=4, **options)
    from_config = load_dataset(cfg)
    assert from_config.name == "mine" and len(from_config.interactions) == 2  # cleaned
    assert len(load_dataset(cfg.model_dump()).interactions) == 2
    assert len(load_dataset(path, **options).interactions) == 3  # no threshold asked
    with pytest.raises(DataError, match="unknown dataset option.*'colums'"):
        load_dataset(path, colums={})


# -- reader errors (issue 8 §4) ------------------------------------------------------------
def test_non_utf8_byte_names_line_and_offset(tmp_path):
    path = tmp_path / "items.csv"
    body = "user_id,item_id,title\n" + "1,2,plain\n" * 3000 + "1,3,Caf\xe9\n"
    path.write_bytes(body.encode("latin-1"))
    offset = body.encode("latin-1").index(b"\xe9")
    with pytest.raises(DataError) as err:
        read_generic(path)
    assert err.value.line == 3002 and f"byte offset {offset}" in str(err.value)
    assert "dataset.encoding" in str(err.value)
    assert read_generic(path, encoding="latin-1").n_items == 2


def test_header_only_file_says_so(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("user_id,item_id\n")
    with pytest.raises(DataError, match="has a header .* but no rows"):
        read_generic(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"not numpy at all", "not a .npy file"),
        (None, "Python objects"),
        ("truncated", "not a readable .npy file"),
    ],
)
def test_unreadable_npy_is_one_line_naming_the_file(tmp_path, content, message):
    from fusionrec.encoders.precomputed import load_precomputed

    path = tmp_path / "image_feat.npy"
    if content is None:
        np.save(path, np.array([{"a": 1}, {"b": 2}], dtype=object), allow_pickle=True)
    elif content == "truncated":
        np.save(path, np.ones((2, 64), np.float32))
        path.write_bytes(path.read_bytes()[:200])
    else:
        path.write_bytes(content)
    with pytest.raises(DataError, match=message) as err:
        load_precomputed("image", path, np.arange(2))
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_huge_jpeg_decodes_at_reduced_scale(tmp_path):
    from PIL import Image

    from fusionrec.encoders.images import load_rgb

    path = tmp_path / "big.jpg"
    Image.new("RGB", (10_000, 10_000), (120, 30, 200)).save(path, quality=30)
    pixels = load_rgb(path, 32)
    assert pixels.shape == (32, 32, 3)
    assert np.abs(pixels[16, 16].astype(int) - (120, 30, 200)).max() < 8


# -- the three shapes of docs/data.md, each through its config -----------------------------
@pytest.mark.parametrize("shape", ["mmrec", "movielens", "retail"])
def test_own_data_configs_load_their_shape(tmp_path, monkeypatch, shape):
    writer = {"mmrec": write_mmrec, "movielens": write_movielens, "retail": write_retail}[shape]
    writer(tmp_path / "own-data" / shape)
    monkeypatch.chdir(tmp_path)
    cfg = load_config(CONFIGS / f"own-data-{shape}.yaml")
    ds = load_dataset(cfg.dataset)
    split = make_split(ds, cfg.split.method, ratios=tuple(cfg.split.ratios))
    assert split.counts()["test"] > 0
    if shape == "mmrec":
        assert split.method == "predefined" and set(ds.precomputed) == {"image", "text", "audio"}
    elif shape == "movielens":
        assert ds.text_fields == ["title", "genres", "tag"]
        assert ds.items["image_path"].notna().sum() == 20  # posters for half of the movies
        assert ds.items["tag"].notna().any()
    else:
        assert all(len(i) == 10 and i.startswith("0") for i in ds.item_ids)
        assert ds.items["image_path"].notna().all() and ds.has_timestamps
        assert ds.items["detail_desc"].notna().mean() == 0.25
