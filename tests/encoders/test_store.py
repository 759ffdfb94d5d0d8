from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from fusionrec.encoders.base import TextEncoder
from fusionrec.encoders.store import (
    FeatureStore,
    default_cache_dir,
    fingerprint_files,
    fingerprint_texts,
    real_paths,
)


class LetterCounts(TextEncoder):
    """A real (if simple) chunkable encoder: letter frequencies; records its calls."""

    def __init__(self, fail_on_call: int | None = None) -> None:
        super().__init__()
        self.id = "letter-counts:v1"
        self.calls: list[int] = []
        self.fail_on_call = fail_on_call

    @property
    def dim(self) -> int:
        return 26

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls.append(len(texts))
        if self.fail_on_call is not None and len(self.calls) == self.fail_on_call:
            raise KeyboardInterrupt("simulated interruption")
        codes = [np.frombuffer(t.lower().encode(), np.uint8) - ord("a") for t in texts]
        return np.stack([np.bincount(c[(c >= 0) & (c < 26)], minlength=26) for c in codes]).astype(
            np.float32
        )


TEXTS = [f"item number {i} " + "x" * (i % 7) for i in range(50)] + ["", "last"]


def compute(store: FeatureStore, encoder, texts=TEXTS, **kw):
    return store.compute("text", encoder, texts, fingerprint_texts(texts), chunk_size=10, **kw)


def test_second_run_is_a_cache_hit_without_encoding(tmp_path):
    store = FeatureStore(tmp_path)
    first = compute(store, LetterCounts())
    again_encoder = LetterCounts()
    second = compute(store, again_encoder)
    assert not first.from_cache and second.from_cache and again_encoder.calls == []
    np.testing.assert_array_equal(first.matrix, second.matrix)
    np.testing.assert_array_equal(first.mask, second.mask)
    assert second.problems == {50: "empty text"}
    # exactly one matrix+mask file and its metadata; no checkpoints or temp files left
    files = sorted(p.suffix for p in (tmp_path / "text").iterdir())
    assert files == [".json", ".npz"]


def test_changed_inputs_or_encoder_id_recompute(tmp_path):
    store = FeatureStore(tmp_path)
    compute(store, LetterCounts())
    changed = LetterCounts()
    compute(store, changed, texts=TEXTS[:-1] + ["other"])
    assert changed.calls  # new inputs -> new key
    renamed = LetterCounts()
    renamed.id = "letter-counts:v2"
    compute(store, renamed)
    assert renamed.calls


def test_interrupted_extraction_resumes_from_completed_chunks(tmp_path):
    store = FeatureStore(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        compute(store, LetterCounts(fail_on_call=4))  # chunks 0-2 done, 3rd chunk dies
    partial = next((tmp_path / "text").glob("*.partial"))
    assert len(list(partial.glob("*.npz"))) == 3
    resumed = LetterCounts()
    seen: list[int] = []
    result = compute(store, resumed, on_progress=seen.append)
    assert len(resumed.calls) == 3  # only chunks 30-39, 40-49, 50-51
    assert seen == [10, 20, 30, 40, 50, 52]
    reference = compute(FeatureStore(tmp_path / "fresh"), LetterCounts())
    np.testing.assert_array_equal(result.matrix, reference.matrix)
    assert result.problems == reference.problems == {50: "empty text"}
    assert not partial.exists()  # checkpoints are removed once the result is stored


@pytest.mark.parametrize("damage", ["garbage", "empty", "cut short"])
def test_corrupt_cache_file_is_recomputed(tmp_path, damage):
    store = FeatureStore(tmp_path)
    compute(store, LetterCounts())
    cached = next((tmp_path / "text").glob("*.npz"))
    data = {"garbage": b"garbage", "empty": b"", "cut short": cached.read_bytes()[:100]}
    cached.write_bytes(data[damage])
    encoder = LetterCounts()
    result = compute(store, encoder)
    assert encoder.calls and not result.from_cache


def test_a_damaged_chunk_checkpoint_is_encoded_again(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        compute(FeatureStore(tmp_path), LetterCounts(fail_on_call=3))
    partial = next((tmp_path / "text").glob("*.partial"))
    chunks = sorted(partial.glob("*.npz"))
    chunks[0].write_bytes(b"")  # e.g. a disk that filled up
    resumed = LetterCounts()
    result = compute(FeatureStore(tmp_path), resumed)
    # the damaged 0-9, then 20-29 ... 50-51 (whose "" is not embedded)
    assert resumed.calls == [10, 10, 10, 10, 1]
    reference = compute(FeatureStore(tmp_path / "fresh"), LetterCounts())
    np.testing.assert_array_equal(result.matrix, reference.matrix)


def test_file_fingerprint_follows_contents_not_timestamps(tmp_path):
    path = tmp_path / "a.jpg"
    path.write_bytes(b"12345")
    before = fingerprint_files([str(path), None])
    path.write_bytes(b"12345")  # rewritten, same bytes: a re-synced dataset
    os.utime(path, ns=(1, 1))
    assert fingerprint_files([str(path), None]) == before
    path.write_bytes(b"54321")  # same size, other bytes
    assert fingerprint_files([str(path), None]) != before
    assert fingerprint_files([str(tmp_path / "gone.jpg")]) != fingerprint_files([str(path)])
    assert fingerprint_files([None, str(path)]) != fingerprint_files([str(path), None])


def test_the_same_files_anywhere_share_a_fingerprint(tmp_path, monkeypatch):
    """Relative, absolute, through a link, or copied elsewhere: one cache entry."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.jpg").write_bytes(b"12345")
    (tmp_path / "link").symlink_to(tmp_path / "data")
    shutil.copytree(tmp_path / "data", tmp_path / "copy")
    monkeypatch.chdir(tmp_path / "data")
    absolute = fingerprint_files([str(tmp_path / "data" / "a.jpg"), None])
    assert fingerprint_files(["a.jpg", None]) == absolute
    assert fingerprint_files(["../data/./a.jpg", None]) == absolute
    assert fingerprint_files([str(tmp_path / "link" / "a.jpg"), None]) == absolute
    assert fingerprint_files([str(tmp_path / "copy" / "a.jpg"), None]) == absolute
    (tmp_path / "data" / "b.jpg").write_bytes(b"12346")  # same size, another file
    assert fingerprint_files(["b.jpg", None]) != absolute


def test_real_paths_equal_realpath(tmp_path, monkeypatch):
    """Folders are resolved once, yet every spelling, linked folder and linked file resolves
    as os.path.realpath does."""
    (tmp_path / "data" / "sub").mkdir(parents=True)
    (tmp_path / "data" / "a.jpg").write_bytes(b"1")
    (tmp_path / "link").symlink_to(tmp_path / "data")
    (tmp_path / "data" / "sub" / "b.jpg").symlink_to(tmp_path / "data" / "a.jpg")
    monkeypatch.chdir(tmp_path / "data" / "sub")
    paths = ["b.jpg", "../a.jpg", "./../sub/../a.jpg", str(tmp_path / "link" / "sub" / "b.jpg"),
             str(tmp_path / "link" / "gone.jpg"), "../../link/a.jpg"]  # fmt: skip
    assert real_paths(paths) == [os.path.realpath(p) for p in paths]


def test_the_digest_memo_skips_reading_unchanged_files(tmp_path):
    """The memo trusts an unchanged (size, mtime, inode); reread=True reads the bytes anyway."""
    memo, path = tmp_path / "cache" / "file-digests.sqlite", tmp_path / "a.jpg"
    path.write_bytes(b"12345")
    stamp = path.stat().st_mtime_ns
    first = fingerprint_files([str(path)], memo)
    assert first == fingerprint_files([str(path)]) and memo.exists()
    path.write_bytes(b"54321")  # rewritten unseen: same size, timestamp put back
    os.utime(path, ns=(stamp, stamp))
    assert fingerprint_files([str(path)], memo) == first  # remembered, not read
    assert fingerprint_files([str(path)], memo, reread=True) != first
    path.write_bytes(b"54321!")  # a visible change is read
    assert fingerprint_files([str(path)], memo) == fingerprint_files([str(path)])


def test_an_unusable_digest_memo_is_skipped(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"12345")
    (tmp_path / "file").write_text("not a folder")
    memo = tmp_path / "file" / "file-digests.sqlite"  # its folder cannot be made
    paths = [str(tmp_path / "a.jpg")]
    assert fingerprint_files(paths, memo) == fingerprint_files(paths)
    (tmp_path / "junk.sqlite").write_text("not a database")
    assert fingerprint_files(paths, tmp_path / "junk.sqlite") == fingerprint_files(paths)


def test_a_model_folder_is_known_by_its_contents(tmp_path):
    """Two fine-tuned checkpoints of one base have equal names, sizes and configs: only
    their weights tell them apart; a copy of either keeps its fingerprint."""
    from fusionrec.encoders.base import fingerprint_model_dir

    for run, byte in (("runA", b"\x01"), ("runB", b"\x02")):
        folder = tmp_path / run / "checkpoint-500"
        folder.mkdir(parents=True)
        (folder / "config.json").write_text('{"hidden_size": 16}')
        (folder / "model.safetensors").write_bytes(byte * 1000)
    a, b = (fingerprint_model_dir(tmp_path / r / "checkpoint-500") for r in ("runA", "runB"))
    assert a != b
    shutil.copytree(tmp_path / "runA", tmp_path / "copy")
    assert fingerprint_model_dir(tmp_path / "copy" / "checkpoint-500") == a
    single = tmp_path / "runA" / "checkpoint-500" / "model.safetensors"
    before = fingerprint_model_dir(single)
    single.write_bytes(b"\x03" * 1000)  # new weights saved over the old, same size
    assert fingerprint_model_dir(single) != before


def test_default_cache_dir_honours_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FUSIONREC_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("FUSIONREC_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "fusionrec" / "features"
