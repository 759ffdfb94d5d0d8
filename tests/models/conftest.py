"""Shared fixtures of the multimodal model tests (helpers live in ``synthetic_mm.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from synthetic_mm import Synthetic, make_synthetic


@pytest.fixture(scope="session")
def synthetic() -> Synthetic:
    """Clustered items, content-driven users, 15 % of images missing, 20 % cold items."""
    return make_synthetic()


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny models run faster on one thread, and much faster on a busy shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
