"""Sampled-negative metrics: only when asked for, under names of their own, from negatives the
user never interacted with, and equal to the plain-loop reference over the same candidates."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_reference import KS, _rows, _split, reference_metrics

from fusionrec.config import validate_config
from fusionrec.errors import ConfigError
from fusionrec.evaluate import Evaluator

N_NEG = 8


def _scores(n_users: int, n_items: int) -> np.ndarray:
    return np.random.default_rng(4).integers(0, 4, size=(n_users, n_items))


def test_sampled_metrics_are_absent_unless_asked_for():
    train, valid, test = _split(40, 30, seed=3)
    scores = _scores(40, 30)
    got = Evaluator(test, train + valid, ks=KS).evaluate(
        lambda u: torch.from_numpy(scores[u.numpy()]).float()
    )
    assert not any(key.startswith("sampled") for key in got)


def test_negatives_are_distinct_unseen_items_drawn_once_per_seed():
    n_users, n_items = 200, 60
    train, valid, test = _split(n_users, n_items, seed=5)
    known = train + valid + test
    ev = Evaluator(test, train + valid, ks=[5], sampled_negatives=N_NEG, known=known)
    again = Evaluator(test, train + valid, ks=[5], sampled_negatives=N_NEG, known=known)
    other = Evaluator(
        test, train + valid, ks=[5], sampled_negatives=N_NEG, known=known, sample_seed=1
    )
    truth, seen = _rows(test), _rows(known)
    for u in range(n_users):
        cands = set(ev.sampled[u].indices.tolist())
        if not truth[u]:
            assert not cands  # users without held-out items draw nothing
            continue
        negatives = cands - truth[u]
        assert truth[u] <= cands and not negatives & seen[u]
        assert len(negatives) == min(N_NEG, n_items - len(seen[u]))
    assert (ev.sampled != again.sampled).nnz == 0
    assert (ev.sampled != other.sampled).nnz > 0
    # uniform over each user's unseen items: item i is drawn sum_u N / |unseen(u)| times in
    # expectation; every count within 5 standard deviations (Poisson) of it
    big_train, big_valid, big_test = _split(3000, n_items, seed=6)
    big_known = big_train + big_valid + big_test
    big = Evaluator(big_test, big_train + big_valid, sampled_negatives=N_NEG, known=big_known)
    drawn = big.sampled - big.sampled.multiply(big_test)
    unseen = 1.0 - (big_known[big.users].toarray() > 0)
    expected = (unseen * (N_NEG / unseen.sum(axis=1, keepdims=True))).sum(axis=0)
    counts = np.asarray(drawn.sum(axis=0)).ravel()
    assert (np.abs(counts - expected) < 5 * np.sqrt(expected)).all()


@pytest.mark.parametrize("batch_users", [7, 1000])
def test_sampled_metrics_match_the_reference_over_the_same_candidates(batch_users):
    n_users, n_items = 40, 30
    train, valid, test = _split(n_users, n_items, seed=3)
    scores = _scores(n_users, n_items)
    ev = Evaluator(
        test,
        train + valid,
        ks=KS,
        batch_users=batch_users,
        sampled_negatives=N_NEG,
        known=train + valid + test,
    )
    got = ev.evaluate(lambda u: torch.from_numpy(scores[u.numpy()]).float())
    candidates = _rows(ev.sampled)
    outside = [set(range(n_items)) - c for c in candidates]
    rankable = max(len(c) for c in candidates)
    ks = tuple(k for k in KS if k <= rankable)
    want = reference_metrics(scores.tolist(), _rows(test), outside, ks)
    for key, value in want.items():
        assert got[f"sampled{N_NEG}-{key}"] == pytest.approx(value, abs=1e-6), key
    # the full-ranking metrics are still there, unchanged, and differ from the sampled ones
    full = reference_metrics(scores.tolist(), _rows(test), _rows(train + valid), KS)
    assert got["ndcg@10"] == pytest.approx(full["ndcg@10"], abs=1e-6)
    assert got[f"sampled{N_NEG}-ndcg@10"] > got["ndcg@10"]


def test_the_option_is_validated_at_the_edge():
    cfg = validate_config({"evaluate": {"sampled_negatives": 100}})
    assert cfg.evaluate.sampled_negatives == 100
    assert validate_config({}).evaluate.sampled_negatives is None
    with pytest.raises(ConfigError, match="sampled_negatives"):
        validate_config({"evaluate": {"sampled_negatives": 0}})
    with pytest.raises(ConfigError, match="cold-items"):
        validate_config({"split": {"method": "cold-items"}, "evaluate": {"sampled_negatives": 100}})


def test_a_run_reports_them_on_test_beside_full_ranking(tmp_path):
    from fusionrec.train.experiment import prepare, run_seed
    from toy_data import write_toy_dataset

    path = write_toy_dataset(tmp_path)
    cfg = validate_config(
        {
            "dataset": {"name": "toy", "path": str(path)},
            "model": {"name": "most-popular"},
            "evaluate": {"ks": [5, 10], "sampled_negatives": 10},
        }
    )
    record = run_seed(cfg, prepare(cfg, progress=False), 1, None, progress=False)
    assert {"ndcg@10", "sampled10-ndcg@10", "sampled10-hit@5"} <= set(record["test"])
    assert not any(key.startswith("sampled") for key in record["valid"])
    assert record["test"]["sampled10-hit@10"] > record["test"]["hit@10"]
