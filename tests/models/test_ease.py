"""EASE and Content-EASE: the closed form solves the paper's problem; content reaches cold items."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from synthetic_mm import check_scores

from fusionrec.config import validate_config
from fusionrec.data.features import ItemFeatures, ModalityFeatures
from fusionrec.errors import ConfigError
from fusionrec.evaluate.cold_start import expected_random_metrics
from fusionrec.models.base import TrainData, build_model
from fusionrec.models.ease import ease_weights

pytestmark = pytest.mark.usefixtures("one_thread")


def test_each_column_is_the_ridge_regression_of_that_item_on_all_others():
    """Steck's constraint diag(B) = 0 makes column j the ridge fit of item j's column from
    the other items' columns: solved here directly, item by item, without the shortcut."""
    rng = np.random.default_rng(0)
    x = (rng.random((60, 15)) < 0.3).astype(np.float64)
    lam = 3.0
    b = ease_weights(x.T @ x, lam)
    assert np.all(np.diag(b) == 0)
    for j in range(x.shape[1]):
        others = np.delete(np.arange(x.shape[1]), j)
        xo = x[:, others]
        fit = np.linalg.solve(xo.T @ xo + lam * np.eye(len(others)), xo.T @ x[:, j])
        np.testing.assert_allclose(b[others, j], fit, rtol=1e-4, atol=1e-6)


def test_zero_content_weight_is_plain_ease(synthetic):
    users = torch.arange(synthetic.data.n_users)
    ease = build_model("ease", synthetic.data, {"reg_weight": 5.0})
    ease.fit(synthetic.data)
    plain = build_model("content-ease", synthetic.data, {"reg_weight": 5.0, "content_weight": 0.0})
    plain.fit(synthetic.data)
    torch.testing.assert_close(plain.score(users), ease.score(users))
    check_scores(plain, synthetic.data.n_users, synthetic.data.n_items)


def test_content_lets_items_nobody_rated_be_recommended(synthetic):
    """EASE has nothing for an item without training ratings (its column of B is zero);
    Content-EASE ranks such items for the users of their content cluster well above random."""
    data = synthetic.data
    ease = build_model("ease", data, {"reg_weight": 5.0})
    ease.fit(data)
    cold = torch.as_tensor(synthetic.cold_items)
    users = torch.arange(data.n_users)
    assert torch.count_nonzero(ease.score(users, cold)) == 0
    model = build_model("content-ease", data, {"reg_weight": 50.0, "content_weight": 5.0})
    model.fit(data)
    evaluator = synthetic.cold_evaluator(ks=(5,))
    recall = evaluator.evaluate(model.score)["recall@5"]
    assert recall > 2.5 * expected_random_metrics(evaluator)["recall@5"]


def test_an_item_without_any_content_or_ratings_scores_zero(synthetic):
    """A missing modality is a missing row of content, not a feature vector of zeros that
    would look like every other empty item: such an item ties to nothing."""
    c = int(synthetic.cold_items[0])
    text = synthetic.data.features["text"]
    mask = text.mask.copy()  # the session's synthetic data stays as every test finds it
    mask[c] = False
    d = synthetic.data
    features = ItemFeatures(d.n_items, {"text": ModalityFeatures("text", text.matrix, mask)})
    data = TrainData(d.n_users, d.n_items, d.train_matrix, features)
    model = build_model("content-ease", data, {"reg_weight": 5.0, "content_weight": 20.0})
    model.fit(data)
    scores = model.score(torch.arange(data.n_users), torch.tensor([c]))
    assert torch.count_nonzero(scores) == 0


def test_a_non_positive_l2_weight_is_refused_at_the_config():
    with pytest.raises(ConfigError, match="reg_weight"):
        validate_config(
            {
                "dataset": {"name": "x", "path": "x.csv"},
                "model": {"name": "ease", "params": {"reg_weight": 0}},
            }
        )


def test_scores_need_a_fit_first(synthetic):
    model = build_model("ease", synthetic.data, {})
    with pytest.raises(RuntimeError, match="fit must run before score"):
        model.score(torch.arange(3))
