"""Issue 13, "your own data, right the first time": every command reads a custom dataset the
way its config describes, names it after the config, and reports what it promised."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from fusionrec.cli import app
from toy_data import toy_config, write_toy_dataset

runner = CliRunner()


def invoke(*args: str):
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def shop_config(tmp_path, **extra) -> tuple:
    """A shop whose files use their own column names, with an item table holding text."""
    path = write_toy_dataset(tmp_path / "data")
    frame = pd.read_csv(path).rename(columns={"user_id": "customer", "item_id": "sku"})
    frame.to_csv(tmp_path / "data" / "tx_std.csv", index=False)
    titles = [f"product {i} of range {i % 4}" for i in range(40)]
    titles[7] = ""  # one item without content
    items = pd.DataFrame({"item_id": [f"i{i}" for i in range(40)], "title": titles})
    items.to_csv(tmp_path / "data" / "products.csv", index=False)
    cfg = {
        "name": "shop-run",
        "dataset": {
            "name": "my-shop",
            "path": str(tmp_path / "data" / "tx_std.csv"),
            "columns": {"user": "customer", "item": "sku"},
            "items_path": str(tmp_path / "data" / "products.csv"),
            "text_fields": ["title"],
        },
        "features": {
            "text": {"encoder": "tfidf", "dim": 4},
            "cache_dir": str(tmp_path / "cache"),
        },
        "model": {"name": "mf-bpr"},
        "train": {"epochs": 2, "batch_size": 128},
        "evaluate": {"ks": [5, 10]},
        "output_dir": str(tmp_path / "runs"),
        **extra,
    }
    out = tmp_path / "shop.yaml"
    out.write_text(yaml.safe_dump(cfg))
    return out, cfg


def test_encode_reads_the_dataset_the_config_describes(tmp_path):
    cfg, _ = shop_config(tmp_path)
    out = invoke("encode", "-c", str(cfg)).output
    assert "item features of my-shop (40 items)" in out
    assert "39/40" in out and "items without content" in out
    # -d naming the config's own dataset keeps its columns and item table
    assert "item features of my-shop" in invoke("encode", "-c", str(cfg), "-d", "my-shop").output


def test_every_command_names_the_dataset_after_the_config(tmp_path):
    cfg, _ = shop_config(tmp_path)
    assert "dataset my-shop" in invoke("data", "inspect", "-c", str(cfg)).output
    out = invoke("data", "split", "-c", str(cfg), "-o", str(tmp_path / "s")).output
    assert "split of my-shop" in out
    out = invoke("train", "-c", str(cfg), "--quiet").output
    results = json.loads((tmp_path / "runs" / "shop-run" / "results.json").read_text())
    manifest = json.loads((tmp_path / "runs" / "shop-run" / "manifest.json").read_text())
    assert results["dataset"] == manifest["dataset"]["name"] == "my-shop"
    assert "my-shop, seeds" in out and "tx_std" not in out


def test_a_different_dataset_on_the_command_line_replaces_the_configs(tmp_path):
    cfg, _ = shop_config(tmp_path)
    other = write_toy_dataset(tmp_path / "other", n_users=20, n_items=30)
    out = invoke("data", "inspect", "-c", str(cfg), "-d", str(other)).output
    assert "dataset interactions" in out and "200" in out  # its own columns, not the shop's


def test_data_inspect_takes_the_dataset_as_an_argument(tmp_path):
    path = write_toy_dataset(tmp_path / "data")
    out = invoke("data", "inspect", str(path)).output
    assert "interactions" in out and "600" in out
    result = runner.invoke(app, ["data", "inspect", str(path), str(path)])
    assert result.exit_code != 0 and "-d PATH" in str(result.exception)


def test_empty_modalities_means_no_features(tmp_path):
    cfg, raw = shop_config(tmp_path)
    raw["features"]["modalities"] = []
    cfg.write_text(yaml.safe_dump(raw))
    invoke("train", "-c", str(cfg), "--quiet")
    manifest = json.loads((tmp_path / "runs" / "shop-run" / "manifest.json").read_text())
    assert manifest["features"] is None
    assert not (tmp_path / "cache").exists()  # nothing was encoded


def test_embeddings_are_written_with_their_ids(tmp_path):
    from fusionrec.train.reload import load_run_model

    cfg, _ = shop_config(tmp_path)
    invoke("train", "-c", str(cfg), "--quiet")
    seed_dir = tmp_path / "runs" / "shop-run" / "seed-2026"
    model, prep = load_run_model(tmp_path / "runs" / "shop-run")
    for side, ids in (("item", prep.dataset.item_ids), ("user", prep.dataset.user_ids)):
        stored = np.load(seed_dir / f"{side}_ids.npy")
        emb = np.load(seed_dir / f"{side}_embeddings.npy")
        assert stored.dtype.kind == "U" and len(stored) == len(emb)
        assert stored.tolist() == [str(i) for i in ids]
    row = prep.dataset.item_index()["i5"]
    model.eval()
    np.testing.assert_allclose(
        np.load(seed_dir / "item_embeddings.npy")[row], model.item_embeddings()[row].detach()
    )


def test_cold_start_run_reports_the_random_ranking_reference(tmp_path):
    from fusionrec.data import Split
    from fusionrec.evaluate.cold_start import expected_random_metrics
    from fusionrec.train.cold_start import cold_start_protocol
    from fusionrec.train.experiment import load_clean_dataset

    cfg = toy_config(tmp_path, split={"method": "cold-items", "cold_fraction": 0.3})
    data = write_toy_dataset(tmp_path / "big", n_users=200, n_items=200)
    raw = yaml.safe_load(cfg.read_text())
    raw["dataset"]["path"] = str(data)
    raw["train"]["metric"] = "recall@10"
    cfg.write_text(yaml.safe_dump(raw))
    out = invoke("train", "-c", str(cfg), "--quiet").output
    run = tmp_path / "runs" / "toy-mf-bpr"
    results = json.loads((run / "results.json").read_text())
    from fusionrec.config import load_config

    ds = load_clean_dataset(load_config(cfg))
    protocol = cold_start_protocol(ds, Split.load(run, ds), ks=(5, 10))
    expected = expected_random_metrics(protocol.test)
    assert results["random"]["recall@10"] == pytest.approx(expected["recall@10"])
    assert 0 < results["random"]["recall@10"] < 1
    assert "random ranking" in out and f"{expected['recall@10']:.4f}" in out


def test_recommend_names_items_by_their_first_text_field_and_dashes_missing_images(tmp_path):
    cfg, settings = shop_config(tmp_path)
    items = pd.read_csv(tmp_path / "data" / "products.csv").rename(columns={"title": "name"})
    items["picture"] = [f"p{i}.jpg" if i % 2 else None for i in range(40)]
    items.to_csv(tmp_path / "data" / "products.csv", index=False)
    settings["dataset"] |= {"text_fields": ["name"], "image_column": "picture"}
    cfg.write_text(yaml.safe_dump(settings))
    run = tmp_path / "runs" / "named"
    invoke("train", "-c", str(cfg), "--run-dir", str(run), "--quiet")
    out = runner.invoke(
        app, ["recommend", str(run), "--user", "u0", "-k", "5"], env={"COLUMNS": "300"}
    )
    assert out.exit_code == 0, out.output
    assert out.output.count("product ") == 5  # the `name` field titles every row
    assert "nan" not in out.output and " - " in out.output  # rows without a picture
