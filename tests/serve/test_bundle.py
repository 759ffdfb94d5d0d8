"""Export and load: a bundle answers as the run it came from, with no training code or
dataset, and a partial or corrupt bundle is refused naming the file."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import fusionrec
from fusionrec.cli import app
from fusionrec.errors import DataError, FusionrecError
from fusionrec.serve.bundle import read_manifest
from fusionrec.serve.recommender import load_bundle


def test_bundle_holds_every_view_index_image_and_checksum(bundle):
    manifest = read_manifest(bundle)
    assert manifest["views"] == ["behaviour", "text", "image", "fused"]
    assert manifest["search"] and manifest["sentiment"]
    assert set(manifest["search_ways"]) == {"text", "image", "fused"}
    assert {"scoring", "view-fused", "search-image"} <= set(manifest["index"])
    assert set(manifest["index"].values()) == {"flat"}  # 40 items: exact
    assert manifest["images"] == 38  # two items have no poster file
    on_disk = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()}
    assert on_disk - set(manifest["files"]) == {"manifest.json"}
    name = "images/0.jpg"
    assert manifest["files"][name] == hashlib.sha256((bundle / name).read_bytes()).hexdigest()
    assert "recall@10" in manifest["metrics"]["test"]
    items = pd.read_parquet(bundle / "items.parquet")
    assert items["item_id"].tolist()[:2] == ["i0", "i1"]
    assert "field:year" in items and "field:plot" in items


def test_bundle_answers_as_the_run(bundle, trained_run):
    served, fitted = fusionrec.load_bundle(bundle), fusionrec.load(trained_run)
    users = ["u0", "u1", "u7"]
    a = served.recommend(users, k=8)
    b = fitted.recommend(users, k=8)
    assert a["item_id"].tolist() == b["item_id"].tolist()
    np.testing.assert_allclose(a["score"], b["score"], rtol=1e-4, atol=1e-5)
    for by in ("behaviour", "text", "image", "fused"):
        a, b = served.similar_items("i3", k=6, by=by), fitted.similar_items("i3", k=6, by=by)
        assert a["item_id"].tolist() == b["item_id"].tolist(), by
        np.testing.assert_allclose(a["similarity"], b["similarity"], rtol=1e-4, atol=1e-5)
    a = served.recommend_for_items(["i1", "i2"], k=5)
    b = fitted.recommend_for_items(["i1", "i2"], k=5)
    assert a["item_id"].tolist() == b["item_id"].tolist()
    a = served.recommend_for_text("robots in a distant galaxy", k=5)
    b = fitted.recommend_for_text("robots in a distant galaxy", k=5)
    assert a["item_id"].tolist() == b["item_id"].tolist()
    np.testing.assert_allclose(a["score"], b["score"], rtol=1e-4, atol=1e-5)


def test_only_and_exclude_answer_as_the_run(bundle, trained_run):
    """A short block-list is skipped by the FAISS index, a short allow-list scored exactly:
    both give the run's own answer."""
    served, fitted = fusionrec.load_bundle(bundle), fusionrec.load(trained_run)
    ranking = fitted.recommend("u1", k=40)["item_id"].tolist()
    for rules in ({"exclude": ranking[:3]}, {"only": ranking[4:12]}, {"only": ranking[:9],
                  "exclude": ranking[:2]}):  # fmt: skip
        a = served.recommend(["u1", "u4"], k=5, **rules)
        b = fitted.recommend(["u1", "u4"], k=5, **rules)
        assert a["item_id"].tolist() == b["item_id"].tolist(), rules
        np.testing.assert_allclose(a["score"], b["score"], rtol=1e-4, atol=1e-5)
        a = served.recommend_for_items(["i2"], k=4, **rules)
        assert (
            a["item_id"].tolist()
            == fitted.recommend_for_items(["i2"], k=4, **rules)["item_id"].tolist()
        )
    near = fitted.similar_items("i3", k=30, by="text")["item_id"].tolist()
    for rules, expected in (({"exclude": near[:3]}, near[3:7]), ({"only": near[2:9]}, near[2:6])):
        a = served.similar_items("i3", k=4, by="text", **rules)
        b = fitted.similar_items("i3", k=4, by="text", **rules)
        assert a["item_id"].tolist() == b["item_id"].tolist() == expected


def test_bundle_and_run_share_one_api_over_the_same_vectors(bundle, trained_run):
    """Both are EmbeddingRecommenders: views, embeddings, id checks and "because" items."""
    served, fitted = fusionrec.load_bundle(bundle), fusionrec.load(trained_run)
    assert served.views() == fitted.views() and served.explain_view() == fitted.explain_view()
    for view in served.views():
        np.testing.assert_allclose(served.item_embeddings(view), fitted.item_embeddings(view))
    np.testing.assert_allclose(served.user_embeddings(), fitted.user_embeddings())
    assert fitted.has_item("i3") and not fitted.has_item("i99") and not served.has_user("u99")
    pool, items = fitted.train_matrix[0].indices, np.array([3, 5])
    for a, b in zip(served.because(pool, items, 2), fitted.because(pool, items, 2), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5)
    why = fitted.explain("u0", "i3", n=2)
    assert why.because["item_id"].tolist() == list(
        fitted.item_ids[fitted.because(pool, [3], 2)[0][0]]
    )


def test_exclude_seen_in_the_bundle(bundle):
    served = load_bundle(bundle)
    seen = set(served.item_ids[served.seen_matrix[0].indices])
    assert set(served.item_ids[served.train_matrix[0].indices]) < seen  # + validation items
    everything = served.recommend("u0", k=40)
    assert not seen & set(everything["item_id"]) and len(everything) == 40 - len(seen)
    assert seen <= set(served.recommend("u0", k=40, exclude_seen=False)["item_id"])


def test_loading_needs_no_training_code_or_dataset(bundle, tmp_path):
    """A moved bundle, in a fresh process where the training packages cannot be imported."""
    moved = shutil.copytree(bundle, tmp_path / "moved")
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, *a):\n"
        "        if name.startswith(('fusionrec.train', 'fusionrec.api')):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from fusionrec.serve.recommender import load_bundle\n"
        f"rec = load_bundle({str(moved)!r})\n"
        "print(rec.recommend('u0', k=3)['item_id'].tolist())\n"
        "print(rec.search('robots in space', by='image', k=3)['item_id'].tolist())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("[") == 2


def _copy(bundle: Path, tmp_path: Path) -> Path:
    return shutil.copytree(bundle, tmp_path / "copy")


def test_a_changed_byte_is_refused_naming_the_file(bundle, tmp_path):
    copy = _copy(bundle, tmp_path)
    target = copy / "scoring" / "users.npy"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"scoring/users.npy: checksum mismatch"):
        load_bundle(copy)


def test_a_missing_file_or_manifest_or_version_is_refused(bundle, tmp_path):
    copy = _copy(bundle, tmp_path)
    (copy / "index" / "scoring.faiss").unlink()
    with pytest.raises(DataError, match=r"index/scoring.faiss: missing bundle file"):
        load_bundle(copy)
    manifest = (copy / "manifest.json").read_text()
    (copy / "manifest.json").write_text(manifest.replace('"format": 2', '"format": 99'))
    with pytest.raises(DataError, match=r"manifest.json: bundle format 99"):
        load_bundle(copy)
    (copy / "manifest.json").unlink()
    with pytest.raises(DataError, match="not a fusionrec bundle"):
        load_bundle(copy)


def test_serving_on_a_port_another_server_holds_is_one_line(bundle, monkeypatch):
    """Said before the server loads anything (uvicorn would log the bind error after the
    app started, and exit 3, with the URL already announced)."""
    import socket

    import uvicorn

    def never(*args, **kwargs):
        raise AssertionError("uvicorn started on a port that is taken")

    monkeypatch.setattr(uvicorn, "run", never)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = CliRunner().invoke(app, ["serve", str(bundle), "--port", str(port)])
    assert isinstance(result.exception, FusionrecError)
    assert f"cannot listen on 127.0.0.1:{port} (Address already in use)" in str(result.exception)
    assert "serving" not in result.output


def test_the_cli_refuses_a_corrupt_bundle_in_one_line(bundle, tmp_path):
    copy = _copy(bundle, tmp_path)
    (copy / "items.parquet").write_bytes(b"broken")
    result = CliRunner().invoke(app, ["serve", str(copy), "--port", "1"])
    assert isinstance(result.exception, FusionrecError)
    assert "items.parquet: checksum mismatch" in str(result.exception)
    out = subprocess.run(
        [sys.executable, "-c", "from fusionrec.cli import main; main()", "serve", str(copy)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "500"},  # rich wraps at the terminal width
    )
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 2 and len(lines) == 1 and "checksum mismatch" in lines[0]


def test_export_refuses_to_replace_a_bundle_unless_told(bundle, trained_run, tmp_path):
    copy = _copy(bundle, tmp_path)
    before = (copy / "manifest.json").read_bytes()
    result = CliRunner().invoke(
        app, ["export", str(trained_run), "-o", str(copy), "--sentiment", "none", "--no-search"]
    )
    assert "already exists" in str(result.exception)
    assert (copy / "manifest.json").read_bytes() == before
    result = CliRunner().invoke(
        app,
        ["export", str(trained_run), "-o", str(copy), "--sentiment", "none", "--no-search",
         "--overwrite", "--index-kind", "hnsw"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    manifest = read_manifest(copy)
    assert not manifest["search"] and not manifest["sentiment"]
    assert set(manifest["index"].values()) == {"hnsw"}
    assert not list(tmp_path.glob(".copy*"))  # no temporary folder left behind
    assert load_bundle(copy).recommend("u0", k=3)["rank"].tolist() == [1, 2, 3]


def test_a_model_without_item_vectors_is_refused_saying_why(trained_run, tmp_path):
    from fusionrec.config import read_saved_config

    run = tmp_path / "most-popular"
    dataset = read_saved_config(trained_run / "config.yaml").dataset.model_dump()
    fusionrec.fit(dataset, model="most-popular", overrides=["evaluate.ks=[5,10]"], run_dir=run)
    result = CliRunner().invoke(app, ["export", str(run), "-o", str(tmp_path / "b")])
    assert "has no item vectors, so it cannot be exported" in str(result.exception)
    assert not (tmp_path / "b").exists()


def test_opening_the_wrong_thing_says_what_to_open_instead(bundle, trained_run, tmp_path):
    with pytest.raises(FusionrecError, match=r"has no seed 7; its seeds are \[2026\]"):
        fusionrec.load(trained_run, seed=7)
    with pytest.raises(FusionrecError, match="is a serving bundle, not a run directory"):
        fusionrec.load(bundle)
    result = CliRunner().invoke(app, ["export", str(trained_run), "-o", str(tmp_path / "b"),
                                      "--index-kind", "bogus"])  # fmt: skip
    assert result.exit_code == 2 and "'bogus' is not one of" in result.output
    result = CliRunner().invoke(app, ["export", str(trained_run), "-o", str(tmp_path / "b"),
                                      "--exact-max", "0"])  # fmt: skip
    shown = " ".join(result.output.replace("│", " ").split())
    assert result.exit_code == 2 and "--exact-max" in shown
    assert "greater than or equal to 1" in shown
    assert not (tmp_path / "b").exists()


def test_a_bundle_is_readable_by_other_accounts_as_plain_files_are(bundle):
    """Exported by one account, served by another: the atomic writes' private temporary
    files (0600, folder 0700) must not carry their mode into the bundle."""
    mask = os.umask(0o022)
    os.umask(mask)
    assert bundle.stat().st_mode & 0o777 == 0o777 & ~mask
    modes = {p.stat().st_mode & 0o777 for p in bundle.rglob("*") if p.is_file()}
    assert modes == {0o666 & ~mask}
