"""Cold-start item protocol: rank only items that never appeared in training.

With a ``cold-items`` split (``make_split(ds, "cold-items", ...)``, whose matrices
``fusionrec.train.cold_start.cold_start_protocol`` hands to ``from_matrices``) half of the
withheld items carry the validation interactions and half the test ones. Validation ranks
the validation cold items against each other, test the test cold items, each for the users
who interacted with them; model selection (early stopping) uses validation only, as
everywhere else.

A model is only interesting here if it beats (a) ranking at random — computed exactly in
expectation, no sampling noise — and (b) a content-only ItemKNN (``content-knn``) that scores
cold items by the cosine between their features and the user's mean training-item features.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from fusionrec.evaluate.evaluator import Evaluator

ScoreFn = Callable[[torch.Tensor], torch.Tensor]


def cold_item_halves(
    cold: np.ndarray, valid: sp.spmatrix, test: sp.spmatrix
) -> tuple[np.ndarray, np.ndarray]:
    """The cold items holding validation interactions and those holding test ones: each
    half is ranked only among itself."""
    cold = np.asarray(cold)
    in_valid = np.asarray(valid[:, cold].sum(axis=0)).ravel() > 0
    in_test = np.asarray(test[:, cold].sum(axis=0)).ravel() > 0
    return cold[in_valid], cold[in_test]


@dataclass
class ColdStartProtocol:
    """Train matrix, validation/test evaluators restricted to their cold items."""

    train: sp.csr_matrix
    valid: Evaluator
    test: Evaluator
    valid_items: np.ndarray
    test_items: np.ndarray

    @classmethod
    def from_matrices(
        cls,
        train: sp.csr_matrix,
        valid: sp.csr_matrix,
        test: sp.csr_matrix,
        *,
        ks: tuple[int, ...] = (10, 20, 50),
    ) -> ColdStartProtocol:
        """Cold items are those with held-out interactions but none in ``train``."""
        never_trained = np.flatnonzero(np.asarray(train.sum(axis=0)).ravel() == 0)
        v_items, t_items = cold_item_halves(never_trained, valid, test)
        v_eval = Evaluator(valid, train, ks=ks, candidates=v_items)
        t_eval = Evaluator(test, train + valid, ks=ks, candidates=t_items)
        return cls(sp.csr_matrix(train), v_eval, t_eval, v_items, t_items)


def expected_random_metrics(evaluator: Evaluator) -> dict[str, float]:
    """Exact expectation of recall/ndcg/precision/hit/mrr@K under a uniformly random ranking of
    each user's rankable items (candidates not excluded for that user)."""
    users = evaluator.users
    n_pos = evaluator.n_pos[users].astype(np.float64)  # the metrics' denominators
    excl = evaluator.exclude[users]
    target = evaluator.target[users]
    if evaluator.candidate_mask is not None:
        cand = np.flatnonzero(evaluator.candidate_mask.cpu().numpy())
        excl, target = excl[:, cand], target[:, cand]
        n_cand = float(len(cand))
    else:
        n_cand = float(evaluator.n_items)
    excluded = np.asarray((excl != 0).sum(axis=1)).ravel()
    # positives that can actually be ranked: among the candidates and not excluded
    hittable = (
        np.asarray(((target != 0).astype(np.int8) - (target != 0).multiply(excl != 0)).sum(axis=1))
        .ravel()
        .astype(np.float64)
    )
    c = np.maximum(n_cand - excluded, 1.0)  # items the user's ranking draws from
    p = hittable / c
    out: dict[str, float] = {}
    for k in evaluator.ks:
        if k > evaluator.max_k:
            continue
        m = np.minimum(k, c)
        ranks = np.arange(1, k + 1, dtype=np.float64)
        disc = 1.0 / np.log2(ranks + 1)
        dcg = p * np.concatenate([[0.0], np.cumsum(disc)])[m.astype(int)]
        ideal = np.cumsum(disc)[np.minimum(n_pos, k).astype(int) - 1]
        # P(no hit among the first r ranks) for r = 0..k (hypergeometric)
        r = np.arange(0, k + 1, dtype=np.float64)[None, :]
        ratio = np.clip(
            (c[:, None] - hittable[:, None] - r) / np.maximum(c[:, None] - r, 1.0), 0.0, 1.0
        )
        ratio[hittable == 0] = 1.0
        none = np.concatenate(
            [np.ones((len(c), 1)), np.cumprod(ratio[:, :-1], axis=1)], axis=1
        )  # none[:, r] = P(first r ranks hold no positive)
        first_at = none[:, :-1] - none[:, 1:]  # P(first hit at rank r+1)
        mrr = (first_at / ranks[None, :]).sum(axis=1)
        out[f"recall@{k}"] = float(np.mean(m * p / n_pos))
        out[f"ndcg@{k}"] = float(np.mean(dcg / ideal))
        out[f"precision@{k}"] = float(np.mean(m * p / k))
        out[f"hit@{k}"] = float(np.mean(1.0 - none[:, k]))
        out[f"mrr@{k}"] = float(np.mean(mrr))
    out["users"] = float(len(users))
    return out
