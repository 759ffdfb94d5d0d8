"""Reading ``.npy`` feature matrices with one-line errors that name the file.

``numpy.load`` fails on a zero-byte, truncated or pickled file with an ``EOFError`` (which
the CLI would treat as Ctrl-D), a ``ValueError`` or a traceback; here each becomes a
``DataError`` that says what is wrong with which file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fusionrec.errors import DataError

_MAGIC = b"\x93NUMPY"
_RESAVE = "Re-export it with numpy.save(path, matrix.astype('float32'))"


def read_npy(path: str | Path, *, mmap: bool = False) -> np.ndarray:
    """The numeric array in ``path`` (memory-mapped with ``mmap``: only the header is read)."""
    path = Path(path)
    if not path.exists():
        raise DataError("feature file not found", path=path)
    if path.stat().st_size == 0:
        raise DataError("the feature file is empty (0 bytes)", path=path, hint=_RESAVE)
    with path.open("rb") as handle:
        if handle.read(len(_MAGIC)) != _MAGIC:
            raise DataError("not a .npy file (no NumPy header)", path=path, hint=_RESAVE)
    try:
        array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except ValueError as exc:
        if "object arrays" in str(exc).lower():
            raise DataError(
                "holds Python objects (dtype object), not a numeric matrix", path=path, hint=_RESAVE
            ) from None
        raise DataError(f"not a readable .npy file: {exc}", path=path, hint=_RESAVE) from None
    except (OSError, EOFError) as exc:
        reason = str(exc) or type(exc).__name__
        raise DataError(f"not a readable .npy file: {reason}", path=path, hint=_RESAVE) from None
    if not np.issubdtype(array.dtype, np.number):
        raise DataError(
            f"features must be numeric, got dtype {array.dtype}", path=path, hint=_RESAVE
        )
    return array
