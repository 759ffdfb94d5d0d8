"""Classification metrics against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from fusionrec.evaluate.classification import (
    brier_score,
    classification_metrics,
    confusion_matrix,
    expected_calibration_error,
)

NAMES = ("negative", "neutral", "positive")


def test_hand_computed_three_classes():
    y_true = np.array([0, 0, 1, 2, 2, 2])
    y_pred = np.array([0, 2, 2, 2, 2, 1])
    assert confusion_matrix(y_true, y_pred, 3).tolist() == [[1, 0, 1], [0, 0, 1], [0, 1, 2]]
    m = classification_metrics(y_true, y_pred, NAMES)
    assert m["accuracy"] == pytest.approx(3 / 6)
    # negative: P = 1/1, R = 1/2, F1 = 2/3; neutral: P = 0/1, R = 0/1, F1 = 0;
    # positive: P = 2/4, R = 2/3, F1 = 2 * (1/2 * 2/3) / (1/2 + 2/3) = 4/7
    assert m["precision_negative"] == 1.0 and m["recall_negative"] == 0.5
    assert m["f1_negative"] == pytest.approx(2 / 3)
    assert m["f1_neutral"] == 0.0 and m["precision_neutral"] == 0.0
    assert m["precision_positive"] == 0.5 and m["recall_positive"] == pytest.approx(2 / 3)
    assert m["f1_positive"] == pytest.approx(4 / 7)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0 + 4 / 7) / 3)
    assert m["macro_precision"] == pytest.approx(0.5)
    assert m["macro_recall"] == pytest.approx((0.5 + 0 + 2 / 3) / 3)
    assert (m["support_negative"], m["support_neutral"], m["support_positive"]) == (2, 1, 3)


def test_a_class_never_predicted_and_absent_scores_zero_not_nan():
    m = classification_metrics(np.array([0, 0]), np.array([0, 0]), NAMES)
    assert m["accuracy"] == 1.0 and m["f1_negative"] == 1.0
    assert m["f1_neutral"] == 0.0 and m["macro_f1"] == pytest.approx(1 / 3)


def test_ece_and_brier_by_hand():
    probs = np.array([[0.9, 0.05, 0.05], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]])
    y = np.array([0, 1, 1, 2])
    # confidences 0.9 (right), 0.6 (wrong), 0.7 (right), 0.8 (right); 10 bins:
    # (0.5,0.6]: |0 - 0.6|, (0.6,0.7]: |1 - 0.7|, (0.7,0.8]: |1 - 0.8|, (0.8,0.9]: |1 - 0.9|
    want = (0.6 + 0.3 + 0.2 + 0.1) / 4
    assert expected_calibration_error(probs, y, n_bins=10) == pytest.approx(want)
    # one bin: |mean accuracy - mean confidence| = |3/4 - 3/4| = 0
    assert expected_calibration_error(probs, y, n_bins=1) == pytest.approx(0.0)
    rows = [0.1**2 + 0.05**2 * 2, 0.6**2 + 0.7**2 + 0.1**2, 0.2**2 + 0.3**2 + 0.1**2]
    rows.append(0.1**2 * 2 + 0.2**2)
    assert brier_score(probs, y) == pytest.approx(np.mean(rows))


def test_bad_labels_are_rejected():
    with pytest.raises(ValueError, match="outside 0..2"):
        classification_metrics(np.array([0, 3]), np.array([0, 1]), NAMES)
    with pytest.raises(ValueError, match="y_pred has 1 rows|y_true has 2 rows"):
        confusion_matrix(np.array([0, 1]), np.array([0]), 3)
