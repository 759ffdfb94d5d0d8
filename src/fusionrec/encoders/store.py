"""On-disk feature cache: one matrix + mask per (modality, encoder id, inputs).

Layout under the cache root (``$FUSIONREC_CACHE`` or ``~/.cache/fusionrec/features``)::

    <modality>/<key>.npz           matrix (float32) and mask (bool)
    <modality>/<key>.json          encoder id, shape, problems, timing: written last, so its
                                   presence means the .npz is complete
    <modality>/<key>.partial/      chunk checkpoints of an unfinished extraction
    <modality>/<key>.missing.csv   items without content (item_id, item_index, reason),
                                   written by the pipeline when there are any

``key`` hashes the encoder id and a fingerprint of the inputs (rendered texts, or the
contents of image and audio files; ``file-digests.sqlite`` remembers each file's digest by
its path, size and modification time, so an unchanged file is not read again). An
interrupted extraction resumes from its completed chunks; every file is written atomically,
so a crash never leaves a torn chunk.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fusionrec.encoders.base import Encoder
from fusionrec.io import file_sha256, read_json, write_atomic, write_json

_FORMAT_VERSION = 1
#: what reading a damaged cache file raises (empty: EOFError; cut short: BadZipFile): such a
#: file is recomputed, never trusted or fatal
_UNREADABLE = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)


def default_cache_dir() -> Path:
    """``$FUSIONREC_CACHE`` if set, else ``~/.cache/fusionrec/features``."""
    env = os.environ.get("FUSIONREC_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "fusionrec" / "features"


def fingerprint_texts(texts: Sequence[str]) -> str:
    """sha256 of the texts in order (an empty text counts: it changes the mask)."""
    digest = hashlib.sha256()
    for text in texts:
        encoded = text.encode("utf-8")
        digest.update(len(encoded).to_bytes(8, "little"))
        digest.update(encoded)
    return digest.hexdigest()


def fingerprint_files(
    paths: Sequence[object], memo: Path | None = None, reread: bool = False
) -> str:
    """sha256 over the contents of the files in order; a missing file counts by its real path.

    Contents, not names or timestamps: a dataset copied, re-synced, restored or moved gets
    new modification times (and maybe a new place) but the same features, and must not be
    encoded again (15 CPU-minutes for 9,742 posters). Reading every file at every run would
    cost as much as copying the dataset, so ``memo`` (a SQLite file) remembers each file's
    digest by its real path, size, modification time and inode, and a file is read again only
    when one of those changes. ``reread`` ignores the memo: for file systems whose coarse
    timestamps let a file be rewritten at the same size without a visible change."""
    named = {i: p for i, p in enumerate(paths) if isinstance(p, str | os.PathLike) and str(p)}
    real = dict(zip(named, real_paths(list(named.values())), strict=True))
    contents = FileDigests(None if reread else memo).digest_all(list(real.values()))
    digest = hashlib.sha256()
    for i, path in enumerate(paths):
        if i not in real:
            digest.update(f"{path}\0-\n".encode())
        elif content := contents.get(real[i]):
            digest.update(content + b"\n")
        else:
            digest.update(f"missing:{real[i]}\n".encode())
    return digest.hexdigest()


def real_paths(paths: Sequence[str | os.PathLike]) -> list[str]:
    """``os.path.realpath`` of each path, resolving each folder once: a catalogue's files
    share a few folders, and resolving every component of every path took 0.15 s for 5,000
    posters; only a file that is itself a link is resolved in full."""
    folders: dict[str, str] = {}
    out = []
    for path in paths:
        folder, name = os.path.split(os.path.abspath(path))
        if folder not in folders:
            folders[folder] = os.path.realpath(folder)
        candidate = os.path.join(folders[folder], name)
        out.append(os.path.realpath(candidate) if os.path.islink(candidate) else candidate)
    return out


class FileDigests:
    """Content digests of files, remembered by (real path, size, mtime, inode) in a SQLite
    table so that unchanged files are not read again; without a memo file every file is
    read. A memo that cannot be opened or written (a read-only cache) is skipped: it only
    saves reading."""

    _SCHEMA = (
        "CREATE TABLE IF NOT EXISTS digests (path TEXT PRIMARY KEY, size INTEGER, "
        "mtime_ns INTEGER, inode INTEGER, sha256 BLOB)"
    )
    #: paths per lookup query (SQLite's default limit on bound variables is 32,766)
    _CHUNK = 10_000

    def __init__(self, memo: Path | None) -> None:
        self.memo = memo

    def digest_all(self, paths: list[str]) -> dict[str, bytes]:
        """sha256 of each readable file among ``paths`` (real paths); unreadable ones are
        left out."""
        stats = {}
        for path in paths:
            with contextlib.suppress(OSError):
                stats[path] = os.stat(path)
        db = self._open()
        known = self._known(db, stats) if db is not None else {}
        fresh = []
        for path, stat in stats.items():
            if path in known:
                continue
            try:
                known[path] = file_sha256(path)
            except OSError:
                continue
            fresh.append((path, stat.st_size, stat.st_mtime_ns, stat.st_ino, known[path]))
        if db is not None:
            with contextlib.suppress(sqlite3.Error), db:  # not stored: read again next time
                db.executemany("INSERT OR REPLACE INTO digests VALUES (?, ?, ?, ?, ?)", fresh)
            db.close()
        return known

    def _open(self) -> sqlite3.Connection | None:
        if self.memo is None:
            return None
        try:
            self.memo.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.memo, timeout=60)
            db.execute(self._SCHEMA)
        except (OSError, sqlite3.Error):
            return None
        return db

    def _known(self, db: sqlite3.Connection, stats: dict[str, os.stat_result]) -> dict[str, bytes]:
        """The remembered digests whose (size, mtime, inode) still match the file."""
        paths, known = list(stats), {}
        for start in range(0, len(paths), self._CHUNK):
            chunk = paths[start : start + self._CHUNK]
            query = (
                "SELECT path, size, mtime_ns, inode, sha256 FROM digests WHERE path IN "
                f"({','.join('?' * len(chunk))})"
            )
            try:
                rows = db.execute(query, chunk).fetchall()
            except sqlite3.Error:
                return {}
            for path, size, mtime_ns, inode, sha in rows:
                stat = stats[path]
                if (size, mtime_ns, inode) == (stat.st_size, stat.st_mtime_ns, stat.st_ino):
                    known[path] = bytes(sha)
        return known


@dataclass
class CachedFeatures:
    """A matrix + mask with the problems found while computing it."""

    matrix: np.ndarray
    mask: np.ndarray
    problems: dict[int, str] = field(default_factory=dict)
    seconds: float = 0.0
    from_cache: bool = False


def _save_arrays(path: Path, **arrays: np.ndarray) -> None:
    def writer(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    write_atomic(path, writer)


def _problem_arrays(problems: dict[int, str]) -> dict[str, np.ndarray]:
    return {
        "problem_index": np.asarray(list(problems), dtype=np.int64),
        "problem_reason": np.asarray(list(problems.values()), dtype=str),
    }


class FeatureStore:
    """Cache of computed features, with resumable chunked extraction."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()

    @staticmethod
    def key(encoder_id: str, inputs_fingerprint: str, n_items: int) -> str:
        payload = f"v{_FORMAT_VERSION}\0{encoder_id}\0{inputs_fingerprint}\0{n_items}"
        return hashlib.sha256(payload.encode()).hexdigest()[:32]

    def paths(self, modality: str, key: str) -> tuple[Path, Path, Path]:
        base = self.root / modality
        return base / f"{key}.npz", base / f"{key}.json", base / f"{key}.partial"

    @property
    def digests_path(self) -> Path:
        """The memo of input files' content digests (see ``fingerprint_files``)."""
        return self.root / "file-digests.sqlite"

    def missing_path(self, modality: str, key: str) -> Path:
        """The CSV listing the items of ``key`` that have no content, with the reason."""
        return self.root / modality / f"{key}.missing.csv"

    def load(self, modality: str, key: str) -> CachedFeatures | None:
        """The cached result, or None when absent or unreadable (then it is recomputed)."""
        data_path, meta_path, _ = self.paths(modality, key)
        if not meta_path.exists() or not data_path.exists():
            return None
        try:
            meta = read_json(meta_path)
            with np.load(data_path, allow_pickle=False) as data:
                matrix, mask = data["matrix"], data["mask"]
        except _UNREADABLE + (json.JSONDecodeError,):
            return None
        if matrix.ndim != 2 or mask.shape != (len(matrix),):
            return None
        problems = {int(k): v for k, v in meta.get("problems", {}).items()}
        return CachedFeatures(matrix, mask, problems, meta.get("seconds", 0.0), from_cache=True)

    def save(self, modality: str, key: str, result: CachedFeatures, meta: dict[str, Any]) -> None:
        data_path, meta_path, partial = self.paths(modality, key)
        _save_arrays(data_path, matrix=result.matrix, mask=result.mask)
        write_json(
            meta_path,
            {
                **meta,
                "format": _FORMAT_VERSION,
                "shape": list(result.matrix.shape),
                "present": int(result.mask.sum()),
                "seconds": round(result.seconds, 3),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "problems": {str(k): v for k, v in result.problems.items()},
            },
        )
        shutil.rmtree(partial, ignore_errors=True)

    def compute(
        self,
        modality: str,
        encoder: Encoder,
        inputs: Sequence[Any],
        inputs_fingerprint: str,
        *,
        chunk_size: int,
        meta: dict[str, Any] | None = None,
        on_progress: Callable[[int], None] | None = None,
        use_cache: bool = True,
        progress_step: int | None = None,
    ) -> CachedFeatures:
        """Cached features for ``inputs``, computing (and checkpointing) what is missing.

        ``on_progress(n)`` is called with the number of items finished so far, counting
        those restored from checkpoints. A chunkable encoder is fed ``progress_step`` items
        per call within a chunk, so progress shows inside a large chunk too.
        """
        key = self.key(encoder.id, inputs_fingerprint, len(inputs))
        if use_cache and (hit := self.load(modality, key)) is not None:
            return hit
        _, _, partial = self.paths(modality, key)
        step = chunk_size if encoder.chunkable else max(1, len(inputs))
        start_time = time.perf_counter()
        parts: list[tuple[np.ndarray, np.ndarray]] = []
        problems: dict[int, str] = {}
        for start in range(0, len(inputs), step):
            stop = min(start + step, len(inputs))
            chunk_path = partial / f"{start:09d}-{stop:09d}.npz"
            chunk = self._load_chunk(chunk_path) if use_cache else None
            if chunk is None:
                sub_step = progress_step if encoder.chunkable and progress_step else step
                chunk = self._encode_chunk(encoder, inputs, start, stop, sub_step, on_progress)
                if use_cache:
                    _save_arrays(
                        chunk_path, matrix=chunk[0], mask=chunk[1], **_problem_arrays(chunk[2])
                    )
            parts.append((chunk[0], chunk[1]))
            problems.update({start + i: reason for i, reason in chunk[2].items()})
            if on_progress:
                on_progress(stop)
        if parts:
            matrix = np.concatenate([p[0] for p in parts]).astype(np.float32, copy=False)
            mask = np.concatenate([p[1] for p in parts]).astype(bool, copy=False)
        else:
            matrix, mask = np.zeros((0, encoder.dim), np.float32), np.zeros(0, bool)
        result = CachedFeatures(matrix, mask, problems, time.perf_counter() - start_time)
        if use_cache:
            self.save(modality, key, result, {"encoder_id": encoder.id, **(meta or {})})
        return result

    @staticmethod
    def _encode_chunk(
        encoder: Encoder,
        inputs: Sequence[Any],
        start: int,
        stop: int,
        step: int,
        on_progress: Callable[[int], None] | None,
    ) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
        """Encode ``inputs[start:stop]`` ``step`` items per call; problems keyed within the
        chunk, as a checkpoint stores them."""
        matrices, masks, problems = [], [], {}
        for sub in range(start, stop, step):
            end = min(sub + step, stop)
            matrix, mask = encoder.encode(inputs[sub:end])
            matrices.append(matrix)
            masks.append(mask)
            problems.update({sub - start + i: reason for i, reason in encoder.problems.items()})
            if on_progress and end < stop:
                on_progress(end)
        return np.concatenate(matrices), np.concatenate(masks), problems

    @staticmethod
    def _load_chunk(path: Path) -> tuple[np.ndarray, np.ndarray, dict[int, str]] | None:
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                problems = dict(
                    zip(
                        data["problem_index"].tolist(),
                        data["problem_reason"].tolist(),
                        strict=True,
                    )
                )
                return data["matrix"], data["mask"], problems
        except _UNREADABLE:
            return None
