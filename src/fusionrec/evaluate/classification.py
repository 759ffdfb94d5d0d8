"""Classification metrics for labelled predictions (e.g. review sentiment), in numpy.

Conventions (those of scikit-learn with ``zero_division=0``), so numbers compare:
- precision of a class never predicted is 0, recall of a class absent from the truth is 0, and
  F1 is 0 when precision + recall is 0;
- macro = unweighted mean over all ``n_classes`` classes, so a rare class counts as much as a
  common one (the point of macro-F1 on imbalanced data);
- ECE = sum over equal-width confidence bins of (bin share) * |accuracy - mean confidence|,
  on the top-class probability; Brier = mean over rows of the squared error of the whole
  probability vector against the one-hot truth (0 is perfect, 2 the worst).
"""

from __future__ import annotations

import numpy as np


def _labels(y: np.ndarray, n_classes: int, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name} must be a 1-d integer array of class indices")
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"{name} holds a class outside 0..{n_classes - 1}")
    return y


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``[n_classes, n_classes]`` counts; row = true class, column = predicted class."""
    y_true = _labels(y_true, n_classes, "y_true")
    y_pred = _labels(y_pred, n_classes, "y_pred")
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} rows, y_pred {len(y_pred)}")
    flat = np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros_like(num, dtype=float), where=den > 0)


def classification_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    class_names: list[str] | tuple[str, ...],
) -> dict[str, float]:
    """Accuracy, per-class precision/recall/F1/support and their macro means.

    Keys: ``accuracy``, ``macro_precision``, ``macro_recall``, ``macro_f1`` and, per class
    name ``c``, ``precision_c``, ``recall_c``, ``f1_c``, ``support_c``.
    """
    n = len(class_names)
    cm = confusion_matrix(y_true, y_pred, n).astype(float)
    tp = np.diag(cm)
    precision = _ratio(tp, cm.sum(axis=0))
    recall = _ratio(tp, cm.sum(axis=1))
    f1 = _ratio(2 * precision * recall, precision + recall)
    out = {
        "accuracy": float(tp.sum() / max(cm.sum(), 1.0)),
        "macro_precision": float(precision.mean()),
        "macro_recall": float(recall.mean()),
        "macro_f1": float(f1.mean()),
    }
    for i, name in enumerate(class_names):
        out[f"precision_{name}"] = float(precision[i])
        out[f"recall_{name}"] = float(recall[i])
        out[f"f1_{name}"] = float(f1[i])
        out[f"support_{name}"] = float(cm[i].sum())
    return out


def expected_calibration_error(probs: np.ndarray, y_true: np.ndarray, n_bins: int = 10) -> float:
    """ECE of the top-class probability over ``n_bins`` equal-width bins of (0, 1]."""
    probs = np.asarray(probs, dtype=float)
    y_true = _labels(y_true, probs.shape[1], "y_true")
    if len(y_true) == 0:
        return 0.0
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y_true).astype(float)
    # bin b holds confidences in (b/n, (b+1)/n]; a confidence of exactly 0 joins bin 0.
    # sum_b |sum_{i in b}(correct_i - conf_i)| / N == sum_b (n_b / N) |acc_b - conf_b|
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    gap = np.bincount(bins, weights=correct - confidence, minlength=n_bins)
    return float(np.abs(gap).sum() / len(y_true))


def brier_score(probs: np.ndarray, y_true: np.ndarray) -> float:
    """Mean squared distance between the probability vector and the one-hot truth."""
    probs = np.asarray(probs, dtype=float)
    y_true = _labels(y_true, probs.shape[1], "y_true")
    onehot = np.eye(probs.shape[1])[y_true]
    return float(((probs - onehot) ** 2).sum(axis=1).mean()) if len(y_true) else 0.0
