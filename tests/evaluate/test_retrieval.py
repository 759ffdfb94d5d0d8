from __future__ import annotations

import numpy as np
import pytest

from fusionrec.evaluate.retrieval import paired_ranks, random_retrieval_metrics, retrieval_metrics


def test_ranks_of_the_diagonal_with_ties_counted_against_the_query():
    scores = np.array([[0.9, 0.1, 0.2], [0.5, 0.5, 0.1], [0.3, 0.8, 0.1]])
    np.testing.assert_array_equal(paired_ranks(scores), [1, 2, 3])
    assert paired_ranks(np.zeros((4, 4))).tolist() == [4, 4, 4, 4]  # constant: worst rank
    with pytest.raises(ValueError, match="square"):
        paired_ranks(np.zeros((2, 3)))


def test_random_expectation_is_the_average_over_every_rank():
    n = 7
    every_rank = retrieval_metrics(np.arange(1, n + 1), ks=(1, 5, 10))
    assert random_retrieval_metrics(n, ks=(1, 5, 10)) == pytest.approx(every_rank)
    assert random_retrieval_metrics(n)["recall@10"] == 1.0
