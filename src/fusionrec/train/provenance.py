"""Which fusionrec code produced a result.

The package version names releases only, yet a search or a study of tens of CPU-hours is
resumed over days, possibly under edited code (a model fixed between two trials). Each result
therefore carries a digest of the package's source and presets: two results with the same
``code_version()`` came from the same code, wherever it was installed.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import fusionrec

#: what shapes a result: the code and the presets (model defaults, search spaces)
SOURCE_SUFFIXES = (".py", ".yaml", ".yml")


@functools.cache
def code_version() -> str:
    """``<version>+<12 hex digits>``: the package version and a digest of every source and
    preset file of the installed package (relative path and bytes, in path order)."""
    root = Path(fusionrec.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.suffix in SOURCE_SUFFIXES):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return f"{fusionrec.__version__}+{digest.hexdigest()[:12]}"
