"""``evaluate.repeat``: masked (default) or rankable items the user has already consumed."""

from __future__ import annotations

import pytest
import torch

from fusionrec.config import load_config
from fusionrec.data.split import TEST, TRAIN, VALID
from fusionrec.train.experiment import prepare, split_evaluators
from toy_data import toy_config


@pytest.mark.parametrize("repeat", [False, True])
def test_repeat_consumption_decides_whether_seen_items_are_masked(tmp_path, repeat):
    path = toy_config(tmp_path, split={"method": "leave-one-out"}, evaluate={"ks": [5, 10],
                      "repeat": repeat})  # fmt: skip
    config = load_config(path)
    prep = prepare(config, progress=False)
    train, valid, test = (prep.split.matrix(prep.dataset, p) for p in (TRAIN, VALID, TEST))
    valid_eval, test_eval, _ = split_evaluators(prep, config, torch.device("cpu"))
    # a model that scores every seen item above the held-out ones
    oracle = torch.from_numpy((3 * train + 2 * valid + test).toarray()).float()
    test_ndcg = test_eval.evaluate(lambda users: oracle[users])["ndcg@5"]
    valid_ndcg = valid_eval.evaluate(lambda users: oracle[users])["ndcg@5"]
    if repeat:  # the 8 training items of every user fill the top five
        assert test_ndcg == 0.0 and valid_ndcg == 0.0
    else:
        assert test_ndcg == pytest.approx(1.0) and valid_ndcg == pytest.approx(1.0)
