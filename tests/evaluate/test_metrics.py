"""Metrics against hand-computed values (the per-user reference is in test_reference.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from fusionrec.evaluate import Evaluator


def csr(rows, n_users, n_items):
    r, c = zip(*rows, strict=False) if rows else ((), ())
    return sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(n_users, n_items))


def test_hand_computed_single_user():
    # 6 items; user 0 trained on item 0; held-out items {2, 5}.
    scores = torch.tensor([[9.0, 1.0, 8.0, 7.0, 6.0, 5.0]])
    ev = Evaluator(csr([(0, 2), (0, 5)], 1, 6), csr([(0, 0)], 1, 6), ks=[1, 3, 5])
    m = ev.evaluate(lambda users: scores[users])
    # ranking after masking item 0: 2, 3, 4, 5, 1 -> hits at ranks 1 and 4
    assert m["recall@1"] == 0.5 and m["recall@3"] == 0.5 and m["recall@5"] == 1.0
    assert m["precision@3"] == pytest.approx(1 / 3)
    # F1@3: P = 1/3, R = 1/2 -> 2 * (1/6) / (5/6) = 0.4; F1@5: P = 2/5, R = 1 -> 4/7
    assert m["f1@3"] == pytest.approx(0.4) and m["f1@5"] == pytest.approx(4 / 7)
    assert m["hit@1"] == 1.0
    idcg2 = 1 + 1 / math.log2(3)
    assert m["ndcg@1"] == pytest.approx(1.0)  # ideal over min(1, 2) = 1 item
    assert m["ndcg@3"] == pytest.approx(1 / idcg2)
    assert m["ndcg@5"] == pytest.approx((1 + 1 / math.log2(5)) / idcg2)
    assert m["mrr@5"] == 1.0
    assert m["map@5"] == pytest.approx((1 / 1 + 2 / 4) / 2)
    assert m["map@3"] == pytest.approx(1 / 2)  # (P@1) / min(3, 2)
    assert m["coverage@1"] == pytest.approx(1 / 6)


def test_users_without_heldout_items_are_skipped_and_first_hit_rank():
    scores = torch.tensor([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    ev = Evaluator(csr([(1, 2)], 2, 3), ks=[3])
    m = ev.evaluate(lambda users: scores[users])
    assert m["users"] == 1.0
    assert m["mrr@3"] == pytest.approx(1 / 3) and m["recall@3"] == 1.0
    assert m["f1@3"] == pytest.approx(2 * (1 / 3) * 1 / (1 / 3 + 1))  # mean over user 1 only


def test_training_items_are_never_recommended():
    # scores favour the training item; masking must push it out of the top 1
    ev = Evaluator(csr([(0, 1)], 1, 3), csr([(0, 0)], 1, 3), ks=[1])
    m = ev.evaluate(lambda users: torch.tensor([[10.0, 5.0, 1.0]]))
    assert m["recall@1"] == 1.0


def test_candidates_restrict_the_ranking():
    ev = Evaluator(csr([(0, 2)], 1, 4), ks=[1], candidates=np.array([2, 3]))
    m = ev.evaluate(lambda users: torch.tensor([[10.0, 9.0, 5.0, 1.0]]))
    assert m["recall@1"] == 1.0 and m["coverage@1"] == 0.5


def test_wrong_score_shape_is_reported():
    ev = Evaluator(csr([(0, 1)], 1, 3), ks=[1])
    with pytest.raises(ValueError, match="expected \\(1, 3\\)"):
        ev.evaluate(lambda users: torch.zeros(1, 2))
