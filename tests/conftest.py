"""Shared fixtures. Real data lives in ../shared/data (see the data README)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

DATA_ROOT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def data_root() -> Path:
    if not DATA_ROOT.exists():
        pytest.skip("../shared/data is not available")
    return DATA_ROOT.resolve()


@pytest.fixture(scope="session")
def movielens_mm(data_root):
    from fusionrec.data import clean, load_dataset

    return clean(load_dataset("movielens-100k-mm"))
