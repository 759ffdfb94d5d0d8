"""Lists made elsewhere become scores the evaluator ranks exactly as listed."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from fusionrec.errors import DataError
from fusionrec.evaluate import Evaluator
from fusionrec.evaluate.lists import list_matrix, list_scores


def test_each_users_list_is_ranked_in_the_order_given():
    # user 1 lists 4, 0, 2; user 0 lists 3; user 2 nothing
    lists = list_matrix(np.array([1, 0, 1, 1]), np.array([4, 3, 0, 2]), 3, 5)
    scores = list_scores(lists)(torch.tensor([1, 2, 0]))
    assert torch.topk(scores[0], 3).indices.tolist() == [4, 0, 2]
    assert torch.isinf(scores[1]).all() and scores[2, 3] == 1.0
    # user 1's held-out item 0 is second on the list; item 4 is a training item: masked
    target = sp.csr_matrix(([1.0, 1.0], ([1, 2], [0, 1])), shape=(3, 5))
    seen = sp.csr_matrix(([1.0], ([1], [4])), shape=(3, 5))
    m = Evaluator(target, seen, ks=[1, 2]).evaluate(list_scores(lists))
    # user 1: 4 masked, so item 0 is first (a hit at 1); user 2 has no list (a miss)
    assert m["recall@1"] == pytest.approx(0.5) and m["users"] == 2.0


def test_a_repeated_item_in_a_list_is_an_error():
    with pytest.raises(DataError, match="user row 0 lists item row 3 2 times"):
        list_matrix(np.array([0, 0, 1]), np.array([3, 3, 3]), 2, 5)
