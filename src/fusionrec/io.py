"""Atomic artifact writes: a crash mid-write never leaves a half-written file behind."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from fusionrec.errors import FusionrecError


def _process_umask() -> int:
    """The umask, read once at import (setting it back and forth later would race with
    other threads creating files)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _process_umask()


def shareable(path: str | Path) -> Path:
    """Give a file or folder made by ``tempfile`` (0600 / 0700, private by design) the
    permissions a plain ``open``/``mkdir`` would have given it, before it is renamed into
    place: a bundle exported by one account and served by another must be readable."""
    path = Path(path)
    os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~_UMASK)
    return path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it over ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        shareable(tmp_path)
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def ensure_writable_dir(path: str | Path, what: str, hint: str) -> Path:
    """Create ``path`` and prove a file can be written there, before any long work whose
    results would otherwise be lost to a late ``OSError``; ``hint`` says how to fix it."""
    path = Path(path).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise FusionrecError(f"cannot write to {what} {path} ({reason}); {hint}") from None
    return path


def write_atomic(path: str | Path, writer: Callable[[Path], None]) -> Path:
    """Call ``writer(tmp_path)`` and move the result to ``path`` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def write_folder_atomic(path: str | Path, writer: Callable[[Path], None]) -> Path:
    """Call ``writer(tmp_folder)`` and rename the folder to ``path``, replacing a folder
    already there only once the new one is whole: a reader never sees a mix of an old
    folder's files and a new one's, and a crash leaves the old folder as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        writer(work)
        shareable(work)
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old-{work.name}")
            os.replace(path, old)
        os.replace(work, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return path


def write_text(path: str | Path, text: str) -> Path:
    return write_atomic(path, lambda p: p.write_text(text, encoding="utf-8"))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def write_json(path: str | Path, payload: Any) -> Path:
    return write_text(path, json.dumps(payload, indent=2, default=_json_default) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_npy(path: str | Path, array: np.ndarray) -> Path:
    def _save(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.save(fh, array)

    return write_atomic(path, _save)


def save_torch(path: str | Path, obj: Any) -> Path:
    import torch

    return write_atomic(path, lambda tmp: torch.save(obj, tmp))


def file_sha256(path: str | Path) -> bytes:
    """The sha256 digest of a file's bytes, read in 1 MiB blocks (any size fits in memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.digest()
