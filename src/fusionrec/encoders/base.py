"""The encoder contract and the small helpers every encoder shares.

An encoder turns a sequence of raw inputs (texts, image paths, audio paths) into a float32
matrix and a presence mask. Its ``id`` names the model, its version and every setting that
changes the output, because the feature store keys its cache on it: two encoders with the
same id must produce the same features. Building an encoder is cheap (no model is loaded
until the first ``encode``) so a cached re-run never pays for loading a network.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from fusionrec.io import file_sha256


@runtime_checkable
class Encoder(Protocol):
    """What the feature store and pipeline need from an encoder."""

    id: str
    #: False when the output for one item depends on the others (e.g. TF-IDF fitted on the
    #: whole corpus); such encoders are run on all inputs at once, never in chunks.
    chunkable: bool
    #: Reasons for missing rows of the last ``encode`` call, keyed by position in its inputs.
    problems: dict[int, str]

    @property
    def dim(self) -> int: ...

    def encode(self, inputs: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]: ...


class BaseEncoder(ABC):
    """Shared plumbing: lazy model loading and scattering present rows into a full matrix."""

    id: str = ""
    chunkable: bool = True

    def __init__(self) -> None:
        self.problems: dict[int, str] = {}

    @property
    @abstractmethod
    def dim(self) -> int:
        """Output dimension (may load the model)."""

    @abstractmethod
    def encode(self, inputs: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(matrix float32 [n, dim], mask bool [n])``; masked-out rows are zero."""

    def _scatter(self, n: int, rows: np.ndarray, present: np.ndarray) -> np.ndarray:
        """Place ``rows`` (one per True in ``present``) into a zero ``[n, dim]`` matrix."""
        out = np.zeros((n, self.dim), dtype=np.float32)
        if len(rows):
            out[present] = rows
        return out


class TextEncoder(BaseEncoder):
    """A text encoder: empty or whitespace-only texts are missing, never embedded."""

    def encode(self, inputs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        self.problems = {}
        texts = [t if isinstance(t, str) else "" for t in inputs]
        present = np.fromiter((bool(t.strip()) for t in texts), dtype=bool, count=len(texts))
        for i in np.flatnonzero(~present).tolist():
            self.problems[i] = "empty text"
        kept = [t for t, keep in zip(texts, present, strict=True) if keep]
        rows = self.embed(kept) if kept else np.zeros((0, self.dim), np.float32)
        return self._scatter(len(texts), np.asarray(rows, dtype=np.float32), present), present

    @abstractmethod
    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed non-empty texts; one float32 row per text, in order."""


def l2_normalize(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Index batches of similar length, longest first, so padding wastes little compute.

    Callers write each batch's output back at these indices, which restores input order.
    """
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def settings_string(**settings: Any) -> str:
    """Deterministic ``k=v,...`` text of the settings that change an encoder's output."""
    return ",".join(f"{k}={settings[k]}" for k in sorted(settings))


def fingerprint_model_dir(path: str | Path) -> str:
    """A short hash of a local model folder (or file): its file names and contents.

    Contents, weights included: a fine-tuned checkpoint has its base model's file sizes and
    configs, and must not be served the base model's cached features; copying the folder
    elsewhere keeps the hash. Each file is read once per process (``_file_digest``).
    """
    root = Path(path)
    digest = hashlib.sha256()
    if root.is_file():
        digest.update(f"{root.name}:".encode() + _file_digest(root))
        return digest.hexdigest()[:12]
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = file.relative_to(root).as_posix()
        if rel.startswith(".") or "/." in rel:
            continue
        digest.update(f"{rel}:".encode() + _file_digest(file) + b"\n")
    return digest.hexdigest()[:12]


def _file_digest(path: Path) -> bytes:
    real = os.path.realpath(path)
    stat = os.stat(real)
    return _digest_of(real, stat.st_size, stat.st_mtime_ns, stat.st_ino)


@functools.lru_cache(maxsize=1024)
def _digest_of(real: str, size: int, mtime_ns: int, inode: int) -> bytes:
    """sha256 of a file, remembered while its size, time and inode stay the same (a model
    of 90 MB is hashed once per process, not once per encoder built)."""
    return file_sha256(real)


def package_version(name: str) -> str:
    """Installed version of a distribution, or 'unknown'."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


def torch_device(device: str | None) -> str:
    """'cpu' unless a device is asked for or CUDA is available."""
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def stable_hash(payload: Any) -> str:
    """sha256 of a JSON-serialisable payload."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


@contextmanager
def no_load_bar() -> Iterator[None]:
    """Hide transformers' "Loading weights" bar inside the block, and only there: models load
    in under a second, once per query of ``fusionrec recommend --text``, and fusionrec's own
    bars cover the encoding; a user's own choice for transformers' bars is left as it was."""
    from transformers.utils import logging as hf_logging

    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if shown:
            hf_logging.enable_progress_bar()
