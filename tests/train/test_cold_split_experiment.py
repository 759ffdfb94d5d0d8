"""A cold-items split through the experiment runner: each half of the withheld items is
ranked only among itself, and warm items are never candidates."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eval_spy import spy_on_evaluations
from fusionrec.config import load_config
from fusionrec.data.split import TEST
from fusionrec.train.cold_start import cold_start_protocol
from fusionrec.train.experiment import prepare, run_seed, split_evaluators
from toy_data import toy_config


def test_cold_split_evaluators_rank_each_half_among_itself(tmp_path):
    path = toy_config(
        tmp_path,
        "mf-bpr",
        split={"method": "cold-items", "cold_fraction": 0.3},
        # about 6 cold items per half: select on a K the candidates can fill
        train={"epochs": 3, "lr": 0.01, "batch_size": 128, "metric": "recall@5"},
    )
    config = load_config(path)
    prep = prepare(config, progress=False)
    valid, test, train = split_evaluators(prep, config, torch.device("cpu"))
    v_items = np.flatnonzero(valid.candidate_mask.numpy())
    t_items = np.flatnonzero(test.candidate_mask.numpy())
    cold = set(prep.split.cold_items.tolist())
    assert len(v_items) and len(t_items)
    assert set(v_items) <= cold and set(t_items) <= cold
    assert not set(v_items) & set(t_items)
    assert (np.asarray(train.sum(axis=0)).ravel()[list(cold)] == 0).all()
    # no training behaviour to measure the withheld items' novelty or diversity by
    assert valid.novelty is None and test.novelty is None and test.unit_columns is None
    with spy_on_evaluations() as spy:
        record = run_seed(config, prep, 1, None, progress=False)
    # the runner's test numbers are those of the cold-start protocol, built independently
    (tested,) = spy.on(prep.split.matrix(prep.dataset, TEST))
    protocol = cold_start_protocol(prep.dataset, prep.split, ks=(5, 10))
    assert record["test"] == pytest.approx(protocol.test.evaluate(tested.model.score))


def test_ks_beyond_the_candidates_are_reported_not_silently_dropped(caplog):
    import scipy.sparse as sp

    from fusionrec.evaluate import Evaluator

    target = sp.csr_matrix(np.eye(4, 30, dtype=np.float32))
    with caplog.at_level("WARNING"):
        ev = Evaluator(target, ks=(5, 10, 20), candidates=np.arange(8))
    assert ev.max_k == 8
    assert "@10,20 are not computed" in caplog.text


def test_diversity_is_reported_on_test_only_and_novelty_on_both(tmp_path):
    config = load_config(toy_config(tmp_path, "mf-bpr", train={"epochs": 2, "lr": 0.01}))
    prep = prepare(config, progress=False)
    record = run_seed(config, prep, 1, None, progress=False)
    assert "novelty@10" in record["valid"] and "novelty@10" in record["test"]
    assert "diversity@10" not in record["valid"]
    assert 0.0 <= record["test"]["diversity@10"] <= 1.0
