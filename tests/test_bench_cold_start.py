"""``benchmarks/bench_cold_start.py``'s sequential row: trained by the experiment runner, it
must rank exactly the candidates the other rows are ranked on (the bench's own protocol),
or its "x random" would compare different things."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bench_cold_start import SEQUENTIAL, row, sequential_row  # noqa: E402
from fusionrec.data import ItemFeatures, ModalityFeatures, build_dataset, make_split  # noqa: E402
from fusionrec.evaluate.cold_start import expected_random_metrics  # noqa: E402
from fusionrec.train.cold_start import cold_start_protocol  # noqa: E402


def _world(n_users: int = 150, n_items: int = 120, length: int = 8):
    """Users walk items of one of three content clusters, in time order."""
    rng = np.random.default_rng(0)
    cluster = np.arange(n_items) % 3
    rows = [
        (f"u{u}", f"i{i:02d}", 100 * u + t)
        for u in range(n_users)
        for t, i in enumerate(rng.choice(np.flatnonzero(cluster == u % 3), length, False))
    ]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    ds = build_dataset("clusters", frame)
    of_item = cluster[[int(str(i)[1:]) for i in ds.item_ids]]
    text = rng.normal(size=(3, 8))[of_item] + 0.3 * rng.normal(size=(ds.n_items, 8))
    feats = ItemFeatures(ds.n_items, {"text": ModalityFeatures("text", text, np.ones(ds.n_items))})
    return ds, feats


def test_the_sequential_row_ranks_the_candidates_of_the_other_rows(tmp_path):
    ds, feats = _world()
    split = make_split(ds, "cold-items", cold_fraction=0.5, seed=7)
    proto = cold_start_protocol(ds, split, ks=(10, 20))
    rand_t = expected_random_metrics(proto.test)
    rows = {"random": row(rand_t, expected_random_metrics(proto.valid)["recall@20"])}
    args = argparse.Namespace(seq_epochs=2, threads=1, runs=tmp_path)
    got = sequential_row(ds, feats, split, rows, 7, args)[SEQUENTIAL[0]]
    assert 0 <= got["test"] <= 1 and got["epochs"] == 2
    saved = (tmp_path / "mmsasrec-split7" / "results.json").read_text()
    assert f"{got['test']}" in saved  # the row is the run's recorded test score
    # another split's reference (other candidates) is refused, not tabulated
    rows["random"] = dict(rows["random"], test=rows["random"]["test"] + 0.01)
    with pytest.raises(RuntimeError, match="ranked other candidates"):
        sequential_row(ds, feats, split, rows, 7, args)
