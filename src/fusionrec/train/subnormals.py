"""Training with subnormal floats flushed to zero on the CPU.

A float32 below 1.2e-38 is *subnormal*, and x86 cores take many extra cycles for every
operation that reads or makes one. Training makes them: all-MiniLM-L6-v2 leaves two of its
384 dimensions near 1e-33 for every text, so once gradients are small the weight gradient
of a text projection (features transposed times the output gradient) holds many subnormal
products where many items get tiny gradients, as the rarely rated items of a sparse catalogue
do (``benchmarks/bench_subnormals.py``: MENTOR 19 % less CPU an epoch on the sparse movielens
with them flushed, no change on the dense one, the same results either way). A value that
small moves no score, so every training run flushes them (``torch.set_flush_denormal``:
flush-to-zero and denormals-are-zero).

The mode belongs to each thread. The scope sets it on the calling thread and puts the old
mode back on exit; torch's worker threads copy the mode of the thread that starts them, at
the first parallel operation of the process, so a run entered before any other torch work
(``fusionrec train``, ``tune`` and ``demo``; a fresh Python process) flushes on every
thread, and workers started inside the scope keep flushing after it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

#: the largest float32 subnormal is just below 2**-126 (about 1.18e-38)
_SUBNORMAL = 1e-39


def flushing() -> bool:
    """Whether the calling thread flushes subnormals now (a subnormal times one is zero)."""
    return bool((torch.tensor([_SUBNORMAL]) * 1.0).item() == 0.0)


@contextmanager
def subnormals_flushed() -> Iterator[None]:
    """Flush subnormal floats to zero on the calling thread inside the block; usable as a
    decorator. Where the CPU cannot (no SSE3), the block runs unchanged."""
    before = flushing()
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(before)
