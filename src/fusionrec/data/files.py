"""Which of many media files exist, one folder listing at a time.

A catalogue names one image (or audio clip) per item, mostly in a few folders. Asking the
file system about each path is one ``stat`` per item: on a network file system, a million
items are a million round trips before anything trains. Listing each folder once answers
the same question with one call per folder.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path


def _files_in(folder: str) -> tuple[set[str], set[str]]:
    """The names of the regular files (or links to them) in ``folder``, and the same names
    lower-cased; empty when the folder cannot be listed (missing, not a folder, no access)."""
    try:
        with os.scandir(folder) as entries:
            names = {e.name for e in entries if e.is_file()}
    except OSError:
        return set(), set()
    return names, {n.lower() for n in names}


def existing_files(paths: Sequence[str | Path]) -> list[bool]:
    """``[Path(p).is_file() for p in paths]``, with each parent folder listed once.

    A name missing from its folder's listing only in letter case (``1.JPG`` for ``1.jpg``)
    is asked about directly, since a case-insensitive file system (macOS, Windows) opens it.
    """
    by_folder: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(paths):
        by_folder[os.path.dirname(os.fspath(p)) or "."].append(i)
    found = [False] * len(paths)
    for folder, indices in by_folder.items():
        names, lowered = _files_in(folder)
        for i in indices:
            name = os.path.basename(os.fspath(paths[i]))
            if name in names:
                found[i] = True
            elif name.lower() in lowered:
                found[i] = Path(paths[i]).is_file()
    return found
