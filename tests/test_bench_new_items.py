"""``benchmarks/bench_new_items.py`` trains on a catalogue without the withheld movies: every
rating it keeps must name the same movie as before, and none of the withheld ones."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bench_new_items import warm_catalogue  # noqa: E402
from fusionrec.data import build_dataset  # noqa: E402
from fusionrec.data.dataset import ITEM, USER  # noqa: E402


def test_the_catalogue_without_the_withheld_items_keeps_every_other_rating_as_it_was():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"user_id": rng.integers(0, 30, 400), "item_id": rng.integers(100, 160, 400)}
    ).drop_duplicates()
    ds = build_dataset("toy", frame)
    cold = np.array([3, 17, 40, 41])
    warm, keep = warm_catalogue(ds, cold, seed=1)
    assert warm.n_items == ds.n_items - len(cold) and not np.isin(cold, keep).any()
    np.testing.assert_array_equal(warm.item_ids, ds.item_ids[keep])
    before = ds.interactions[~ds.interactions[ITEM].isin(cold)]
    pairs = set(zip(ds.user_ids[before[USER]], ds.item_ids[before[ITEM]], strict=True))
    after = warm.interactions
    assert set(zip(warm.user_ids[after[USER]], warm.item_ids[after[ITEM]], strict=True)) == pairs
    assert len(after) == len(before)
