"""A dataset's cold-items split turned into the cold-start protocol (train layer)."""

from __future__ import annotations

import numpy as np
import pytest

from fusionrec.data import load_dataset, make_split
from fusionrec.errors import ConfigError
from fusionrec.train.cold_start import cold_start_protocol
from toy_data import write_toy_dataset


@pytest.fixture
def toy(tmp_path):
    return load_dataset("toy", path=write_toy_dataset(tmp_path))


def test_the_protocol_ranks_each_half_of_the_withheld_items(toy):
    split = make_split(toy, "cold-items", cold_fraction=0.3, seed=0)
    proto = cold_start_protocol(toy, split, ks=(5,))
    cold = set(split.cold_items.tolist())
    assert len(proto.valid_items) and len(proto.test_items)
    assert set(proto.valid_items) | set(proto.test_items) <= cold
    assert not set(proto.valid_items) & set(proto.test_items)
    assert (np.asarray(proto.train.sum(axis=0)).ravel()[list(cold)] == 0).all()


def test_a_split_without_cold_items_is_a_config_error(toy):
    with pytest.raises(ConfigError, match="split.method.*cold-items.*'random'"):
        cold_start_protocol(toy, make_split(toy, "random", seed=0))
