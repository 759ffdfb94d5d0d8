"""Run-directory guards: one writer at a time, no silent mixing of two runs' files.

A run directory holds exactly one run. ``RunLock`` keeps a second process out while one
trains; ``open_run`` decides, before anything is written, whether the directory may be
used: a new run needs an empty (or run-free) directory, ``--resume`` needs the same
settings as the saved ``config.yaml``, ``--overwrite`` first removes the old run's files.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import socket
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

import pydantic
import yaml

from fusionrec.config import ExperimentConfig, SplitConfig, anchor_paths, dump_config
from fusionrec.errors import ConfigError, FusionrecError

log = logging.getLogger(__name__)

LOCK = ".fusionrec.lock"
CONFIG = "config.yaml"
RESULTS = "results.json"
# Files a run writes at its top level (seed-<s>/ folders come on top); --overwrite removes
# only these, so a mistaken --run-dir never loses unrelated files.
SPLIT_FILE = "split.parquet"
#: A saved split: the labels and what made them.
SPLIT_FILES = (SPLIT_FILE, "split.json")
RUN_FILES = (CONFIG, *SPLIT_FILES, "manifest.json", RESULTS)
# Settings that may change on --resume: how long and where to train, not what is trained.
RESUMABLE = frozenset(
    {
        "name",
        "output_dir",
        "train.epochs",
        "train.patience",
        "train.device",
        "train.threads",
        "train.checkpoint_every",
        "train.checkpoint_seconds",
        "evaluate.batch_users",
    }
)


class RunLock:
    """An exclusive ``flock`` on ``<run>/.fusionrec.lock``, which records the holder (pid,
    host, start time) so a refused process can say who holds the directory.

    The kernel drops the lock when its process dies, so a lock file left behind by a crash
    or ``kill -9`` is stale by construction: it is taken over with a warning.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / LOCK
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                raise FusionrecError(
                    f"run directory {self.path.parent} is in use by another fusionrec process "
                    f"({holder}); wait for it to finish or choose another --run-dir"
                ) from None
            # The previous holder may have removed the file between our open and flock:
            # then we locked an orphan inode, so start again on the current file.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        previous = _read_holder(fd)
        if previous != "unknown holder":
            log.warning(
                "%s was left by %s, which no longer holds it (it crashed or was killed); "
                "taking it over",
                self.path,
                previous,
            )
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)  # while still locked: nobody can lock it meanwhile
        os.close(self._fd)
        self._fd = None


def _read_holder(fd: int) -> str:
    """'pid 123 on host h, started 2026-...' from a lock file, or 'unknown holder'."""
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode() or "null")
        return f"pid {info['pid']} on host {info['host']}, started {info['started']}"
    except (ValueError, TypeError, KeyError, OSError):
        return "unknown holder"


def holds_run(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds a run that got as far as training, finished or not: a seed
    folder with anything in it but its log (an attempt that failed while building the
    model leaves only an empty ``train.log``, which is nothing to keep)."""
    return (run_dir / RESULTS).exists() or any(
        any(f.name != "train.log" for f in seed.iterdir())
        for seed in run_dir.glob("seed-*")
        if seed.is_dir()
    )


def clear_split(folder: Path) -> None:
    """Remove a saved split, so the next run in ``folder`` makes the one its config names
    (a re-run search or study replaces its last one)."""
    for name in SPLIT_FILES:
        (folder / name).unlink(missing_ok=True)


def clear_run(run_dir: Path, *, keep_split: bool = False) -> None:
    """Remove the files of a previous run (``--overwrite``), nothing else; ``keep_split``
    spares a split the run did not make itself."""
    for name in RUN_FILES:
        if not (keep_split and name in SPLIT_FILES):
            (run_dir / name).unlink(missing_ok=True)
    for seed_dir in run_dir.glob("seed-*"):
        if seed_dir.is_dir():
            shutil.rmtree(seed_dir)


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: tree}


def _with_defaults(saved: dict[str, Any]) -> dict[str, Any]:
    """The saved settings with each field the config gained since at its default, so a run
    or search saved by an older version resumes (a new ``dataset.sep`` is unset there, None
    now). Settings this version no longer reads stay as saved and show up as differences."""
    try:
        return yaml.safe_load(dump_config(ExperimentConfig.model_validate(saved)))
    except pydantic.ValidationError:
        return saved


def config_differences(saved: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """``key: saved (saved) != now (now)`` for every dotted key whose value differs; paths
    compare as the files they name (a run saved before paths were stored absolute, or a
    config spelling them relatively, still matches), and a field added to the config since
    the save compares as its default."""
    old, new = _flatten(anchor_paths(_with_defaults(saved))), _flatten(anchor_paths(now))
    missing = "unset"
    return [
        f"{key}: {old.get(key, missing)} (saved) != {new.get(key, missing)} (now)"
        for key in sorted(old.keys() | new.keys())
        if old.get(key, missing) != new.get(key, missing)
    ]


def check_resume(run_dir: Path, config: ExperimentConfig) -> None:
    """Refuse to resume with settings that change what is trained (see ``RESUMABLE``)."""
    path = run_dir / CONFIG
    if not path.exists():
        raise ConfigError(
            f"nothing to resume in {run_dir} (no {CONFIG}); drop --resume to start a new run"
        )
    try:
        saved = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(
            f"{path} is unreadable ({exc.__class__.__name__}); start over with --overwrite"
        ) from exc
    if not isinstance(saved, dict):
        raise ConfigError(f"{path} is not a run configuration; start over with --overwrite")
    now = yaml.safe_load(dump_config(config))
    differences = [d for d in config_differences(saved, now) if d.split(":", 1)[0] not in RESUMABLE]
    if differences:
        raise ConfigError(
            f"cannot resume {run_dir} with different settings: {'; '.join(differences)}. "
            "Resume with the saved settings, or start over with --overwrite "
            "(or another --run-dir)"
        )


def open_run(run_dir: Path, config: ExperimentConfig, *, resume: bool, overwrite: bool) -> None:
    """Make ``run_dir`` ready for ``config``, or refuse before anything is changed.

    Call it while holding ``RunLock``. A resumed run loses its ``results.json`` and
    ``manifest.json`` until it finishes again, so it reads as incomplete meanwhile.
    """
    if resume and overwrite:
        raise ConfigError("--resume and --overwrite contradict each other; choose one")
    if resume:
        check_resume(run_dir, config)
        for name in (RESULTS, "manifest.json"):
            (run_dir / name).unlink(missing_ok=True)
    elif holds_run(run_dir):
        if not overwrite:
            raise ConfigError(
                f"{run_dir} already holds a run; pass --resume to continue it, --overwrite "
                "(overwrite=True in fusionrec.fit) to replace it, or choose another --run-dir"
            )
        log.warning("--overwrite: removing the previous run in %s", run_dir)
        clear_run(run_dir)
    elif (run_dir / CONFIG).exists():
        # An attempt that stopped before training (bad setting, missing data): nothing of
        # value, but its config and the split it made must not leak into this run. A split
        # it found here (``fusionrec data split -o``) is the user's: kept and used, or
        # refused by the run if its config asks for another method.
        keep = not _split_of_attempt(run_dir)
        log.info("removing the files of an earlier attempt that never trained in %s", run_dir)
        if keep:
            log.info("keeping the split saved in %s before that attempt", run_dir)
        clear_run(run_dir, keep_split=keep)


def _split_of_attempt(run_dir: Path) -> bool:
    """Whether the split saved in ``run_dir`` was made by the attempt that wrote its
    ``config.yaml``. That attempt wrote the file before it read any data, so a split it
    made is not older, and it is what the file's split section asks for; a split failing
    either test was made by ``fusionrec data split -o`` (before or after the attempt)."""
    split, config, meta = run_dir / SPLIT_FILE, run_dir / CONFIG, run_dir / SPLIT_FILES[1]
    if not split.exists():
        return True  # nothing worth keeping (a stray split.json goes)
    try:
        if split.stat().st_mtime_ns < config.stat().st_mtime_ns:
            return False
        asked = (yaml.safe_load(config.read_text(encoding="utf-8")) or {}).get("split") or {}
        return _made_as_asked(json.loads(meta.read_text(encoding="utf-8")), asked)
    except (OSError, ValueError, TypeError, KeyError, AttributeError, yaml.YAMLError):
        return True  # unreadable: not a split a run could use either


def _made_as_asked(made: dict[str, Any], asked: dict[str, Any]) -> bool:
    """Whether a split's ``split.json`` (``made``) is what a config's split section asks."""
    wanted = asked.get("method", "auto")
    # auto is the data's own labels (predefined) or random, whichever the data allowed
    if made["method"] not in (("random", "predefined") if wanted == "auto" else (wanted,)):
        return False
    defaults = SplitConfig().model_dump(mode="json")  # a config.yaml saved before a key was
    setting = {"ratios": "ratios", "seed": "seed", "fraction": "cold_fraction", "path": "path"}
    for key, value in (made.get("params") or {}).items():
        if key not in setting:
            continue
        expected = asked.get(setting[key], defaults[setting[key]])
        if expected is None:
            return False
        if key == "path":
            same = os.path.abspath(value) == os.path.abspath(expected)
        elif key == "ratios":
            same = list(map(float, value)) == list(map(float, expected))
        else:
            same = value == expected
        if not same:
            return False
    return True
