"""The Evaluator against an independent reference written here with plain Python loops.

The reference shares no code with ``fusionrec.evaluate``: it sorts each user's rankable items
by (score descending, item index ascending) — the evaluator's documented tie rule — and
applies the MMRec definitions of docs/evaluation.md term by term. Scores are small integers,
so most users have ties, many of them straddling the cut at K.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from fusionrec.evaluate import Evaluator

KS = (1, 3, 5, 10, 20)


def reference_metrics(
    scores: list[list[int]],
    target: list[set[int]],
    exclude: list[set[int]],
    ks: tuple[int, ...],
) -> dict[str, float]:
    """Mean per-user metrics by the definitions."""
    per_user = reference_per_user(scores, target, exclude, ks)
    return {key: sum(vals) / len(vals) for key, vals in per_user.items()}


def reference_per_user(
    scores: list[list[int]],
    target: list[set[int]],
    exclude: list[set[int]],
    ks: tuple[int, ...],
) -> dict[str, list[float]]:
    """Each evaluated user's metrics by the definitions, one user at a time."""
    per_user: dict[str, list[float]] = {}
    for user_scores, truth, seen in zip(scores, target, exclude, strict=True):
        if not truth:
            continue  # users without held-out items are not evaluated
        rankable = [i for i in range(len(user_scores)) if i not in seen]
        ranking = sorted(rankable, key=lambda i: (-user_scores[i], i))
        for k in ks:
            rel = [1 if item in truth else 0 for item in ranking[:k]]
            n_hits = sum(rel)
            dcg = sum(r / math.log2(rank + 1) for rank, r in enumerate(rel, start=1))
            idcg = sum(1 / math.log2(rank + 1) for rank in range(1, min(k, len(truth)) + 1))
            sum_prec = 0.0
            for rank, r in enumerate(rel, start=1):
                if r:
                    sum_prec += sum(rel[:rank]) / rank
            first = next((rank for rank, r in enumerate(rel, start=1) if r), None)
            recall, precision = n_hits / len(truth), n_hits / k
            values = {
                "recall": recall,
                "precision": precision,
                "f1": 2 * precision * recall / (precision + recall) if n_hits else 0.0,
                "hit": 1.0 if n_hits else 0.0,
                "ndcg": dcg / idcg,
                "map": sum_prec / min(k, len(truth)),
                "mrr": 1 / first if first else 0.0,
            }
            for name, value in values.items():
                per_user.setdefault(f"{name}@{k}", []).append(value)
    return per_user


def _split(n_users: int, n_items: int, seed: int) -> tuple[sp.csr_matrix, ...]:
    """Random train / valid / test interactions (disjoint), about 30 % density."""
    rng = np.random.default_rng(seed)
    part = rng.choice(4, size=(n_users, n_items), p=[0.7, 0.15, 0.1, 0.05])
    return tuple(sp.csr_matrix((part == p).astype(np.float32)) for p in (1, 2, 3))


def _rows(mat: sp.csr_matrix) -> list[set[int]]:
    return [set(mat[u].indices.tolist()) for u in range(mat.shape[0])]


@pytest.mark.parametrize("batch_users", [5, 1000])
@pytest.mark.parametrize("part", ["valid", "test"])
def test_evaluator_matches_reference_with_ties(part, batch_users):
    n_users, n_items = 40, 30
    train, valid, test = _split(n_users, n_items, seed=3)
    scores = np.random.default_rng(4).integers(0, 4, size=(n_users, n_items))
    if part == "valid":  # train masked, as the trainer evaluates
        target, exclude = valid, train
    else:  # train and validation masked, as the test evaluation
        target, exclude = test, train + valid
    ev = Evaluator(target, exclude, ks=KS, batch_users=batch_users)
    got = ev.evaluate(lambda users: torch.from_numpy(scores[users.numpy()]).float())
    want = reference_metrics(scores.tolist(), _rows(target), _rows(exclude), KS)
    assert got["users"] == len([t for t in _rows(target) if t])
    assert set(want) <= set(got)
    for key, value in want.items():
        assert got[key] == pytest.approx(value, abs=1e-6), key
    # each user's values, in the order of ``ev.users`` (the users with held-out items)
    rows = ev.per_user(lambda users: torch.from_numpy(scores[users.numpy()]).float())
    want_rows = reference_per_user(scores.tolist(), _rows(target), _rows(exclude), KS)
    for key, values in want_rows.items():
        np.testing.assert_allclose(rows[key], values, atol=1e-6, err_msg=key)


def test_tied_cut_keeps_the_lower_indices():
    """Five items tie at the cut of K=2: the two lowest indices are ranked, and the result
    does not depend on where the held-out item sits in torch.topk's internal order."""
    scores = torch.zeros(1, 6)
    low = Evaluator(sp.csr_matrix(np.eye(1, 6, 1)), ks=[2]).evaluate(lambda u: scores)
    high = Evaluator(sp.csr_matrix(np.eye(1, 6, 5)), ks=[2]).evaluate(lambda u: scores)
    assert low["recall@2"] == 1.0 and low["mrr@2"] == 0.5
    assert high["recall@2"] == 0.0


def test_reference_rejects_a_wrong_tie_rule():
    """The comparison can fail: ties broken by the higher index give other numbers."""
    n_users, n_items = 40, 30
    train, valid, _ = _split(n_users, n_items, seed=3)
    scores = np.random.default_rng(4).integers(0, 4, size=(n_users, n_items))
    reversed_ties = scores[:, ::-1].copy()  # same ranking rule applied to reversed indices
    ev = Evaluator(valid[:, ::-1], train[:, ::-1], ks=KS)
    got = ev.evaluate(lambda users: torch.from_numpy(reversed_ties[users.numpy()]).float())
    want = reference_metrics(scores.tolist(), _rows(valid), _rows(train), KS)
    assert any(abs(got[k] - v) > 1e-3 for k, v in want.items())
