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


def test_how_the_recommendations_spread_over_the_items():
    """Two users, five items with training counts [6, 3, 1, 0, 0] (the head: items 0 and 1,
    which hold 9 of 10 interactions; 80 % is reached at item 1). Top 2 of user 0: items 0, 1;
    of user 1 (who trained on item 0): items 1, 2."""
    from fusionrec.evaluate.evaluator import gini, long_tail

    popularity = np.array([6, 3, 1, 0, 0])
    assert long_tail(popularity).tolist() == [0, 0, 1, 1, 1]
    scores = torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0], [5.0, 4.0, 3.0, 2.0, 1.0]])
    ev = Evaluator(
        csr([(0, 3), (1, 4)], 2, 5), csr([(1, 0)], 2, 5), ks=[2], item_popularity=popularity
    )
    m = ev.evaluate(lambda users: scores[users])
    assert m["arp@2"] == pytest.approx(((6 + 3) / 2 + (3 + 1) / 2) / 2)
    assert m["tail@2"] == pytest.approx((0 / 2 + 1 / 2) / 2)
    # item counts in the lists: [1, 2, 1, 0, 0]; sorted [0, 0, 1, 1, 2], n = 5, total 4
    expected = ((-4) * 0 + (-2) * 0 + 0 * 1 + 2 * 1 + 4 * 2) / (5 * 4)
    assert m["gini@2"] == pytest.approx(expected) == pytest.approx(gini(np.array([1, 2, 1, 0, 0])))
    assert m["coverage@2"] == pytest.approx(3 / 5)
    assert gini(np.ones(7)) == 0.0 and gini(np.array([0, 0, 0, 5])) == pytest.approx(3 / 4)
    assert "arp@2" not in Evaluator(csr([(0, 3)], 2, 5), ks=[2]).evaluate(
        lambda users: scores[users]
    )  # no popularity given: no popularity metrics


def test_spread_metrics_skip_the_masked_items_that_pad_a_short_list():
    """One user can rank 2 of 4 items; the top 3 is padded with a masked item, which is
    neither a recommendation nor part of its popularity."""
    popularity = np.array([5, 5, 1, 1])
    ev = Evaluator(
        csr([(0, 3)], 1, 4), csr([(0, 0), (0, 1)], 1, 4), ks=[3], item_popularity=popularity
    )
    m = ev.evaluate(lambda users: torch.tensor([[4.0, 3.0, 2.0, 1.0]]))
    assert m["arp@3"] == pytest.approx(1.0) and m["tail@3"] == pytest.approx(1.0)
    assert m["coverage@3"] == pytest.approx(2 / 4)


def test_novelty_and_diversity_by_hand():
    """Four users trained on five items: item 0 by users 0-3, item 1 by users 0-1, item 2 by
    user 2, item 3 by users 0-1 (the same users as item 1), item 4 by nobody. Every user is
    shown the same scores; training items are not masked, so each top 3 is items 0, 1, 2."""
    from fusionrec.evaluate.evaluator import list_diversity, self_information, unit_columns

    train = csr([(0, 0), (1, 0), (2, 0), (3, 0), (0, 1), (1, 1), (2, 2), (0, 3), (1, 3)], 4, 5)
    popularity = np.asarray(train.sum(axis=0)).ravel()
    scores = torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0]]).repeat(4, 1)
    ev = Evaluator(
        csr([(u, 4) for u in range(4)], 4, 5),
        ks=[3],
        item_popularity=popularity,
        item_interactions=train,
    )
    m = ev.evaluate(lambda users: scores[users])
    # novelty: -log2(4/4), -log2(2/4), -log2(1/4) = 0, 1, 2
    assert m["novelty@3"] == pytest.approx(1.0)
    # cosines: (0,1) 2/sqrt(4*2), (0,2) 1/sqrt(4*1), (1,2) 0
    mean_cos = (2 / math.sqrt(8) + 1 / 2 + 0) / 3
    assert m["diversity@3"] == pytest.approx(1 - mean_cos)
    unit = unit_columns(train)
    # items 1 and 3 have the same users: a list of the two has no diversity; the unrated
    # item 4 is similar to nothing; one item has no pair and is left out of the mean
    total, n = list_diversity(unit, np.array([[1, 3], [1, 4], [2, -1]]))
    assert n == 2 and total == pytest.approx(0.0 + 1.0)
    # an item nobody rated counts as one user's, not as infinitely novel
    assert self_information(np.array([0, 1, 4]), 4).tolist() == pytest.approx([2.0, 2.0, 0.0])
    plain = Evaluator(csr([(0, 4)], 4, 5), ks=[3]).evaluate(lambda users: scores[users])
    assert "novelty@3" not in plain and "diversity@3" not in plain
