"""Evaluator robustness: the model's tensors are left alone, bad scores are errors, and only
rankable items count as recommended."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from fusionrec.errors import ModelError
from fusionrec.evaluate import Evaluator
from fusionrec.evaluate.evaluator import topk_lower_index_first


class CachedScores:
    """A model that computes its full score matrix once and hands out that same tensor."""

    def __init__(self, scores: torch.Tensor) -> None:
        self.cache = scores
        self.pristine = scores.clone()

    def score(self, users: torch.Tensor) -> torch.Tensor:
        return self.cache if len(users) == len(self.cache) else self.cache[users]


def test_masks_are_not_written_into_a_cached_score_tensor():
    rng = np.random.default_rng(0)
    n_users, n_items = 12, 20
    part = rng.choice(3, size=(n_users, n_items), p=[0.6, 0.25, 0.15])
    part[np.arange(n_users), np.arange(n_users)] = 2  # every user has held-out items
    train = sp.csr_matrix((part == 1).astype(np.float32))
    test = sp.csr_matrix((part == 2).astype(np.float32))
    # favour the training items, so a corrupted cache changes the second evaluation
    model = CachedScores(torch.rand(n_users, n_items) + 2 * torch.from_numpy(part == 1))
    ev = Evaluator(test, train, ks=(3, 5))
    assert ev.n_users == n_users
    first = ev.evaluate(model.score)
    second = ev.evaluate(model.score)
    assert first == second
    assert torch.equal(model.cache, model.pristine)


def test_nan_scores_are_an_error():
    ev = Evaluator(sp.csr_matrix(np.eye(2, 4)), ks=(2,))
    scores = torch.ones(2, 4)
    scores[1, 3] = torch.nan
    with pytest.raises(ModelError, match="NaN"):  # a FusionrecError: one line on the CLI
        ev.evaluate(lambda users: scores[users])


def test_coverage_counts_only_rankable_items():
    """One user can rank only 2 of 6 items; the masked items that pad the top 5 are not
    recommendations."""
    train = sp.csr_matrix(np.array([[1, 1, 1, 1, 0, 0]], dtype=np.float32))
    test = sp.csr_matrix(np.array([[0, 0, 0, 0, 1, 0]], dtype=np.float32))
    m = Evaluator(test, train, ks=(5,)).evaluate(lambda users: torch.arange(6.0).unsqueeze(0))
    assert m["coverage@5"] == pytest.approx(2 / 6)
    assert m["recall@5"] == 1.0 and m["precision@5"] == pytest.approx(1 / 5)


@pytest.mark.parametrize("k", [1, 7, 20])
def test_topk_breaks_ties_by_lower_index(k):
    """The same order as a stable descending sort, whether or not ties straddle the cut,
    -0.0 equal to 0.0, and for K equal to the number of items."""
    gen = torch.Generator().manual_seed(0)
    scores = torch.randint(-2, 3, (50, 20), generator=gen).float()
    scores[0] = 0.0
    scores[0, ::2] = -0.0
    val, idx = topk_lower_index_first(scores.clone(), k)
    want = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :k]
    assert torch.equal(idx, want)
    assert torch.equal(val, scores.gather(1, want))
