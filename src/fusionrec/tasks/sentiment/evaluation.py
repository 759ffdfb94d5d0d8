"""Stratified k-fold cross-validation of sentiment models, and its results table.

Per outer fold every model is trained by ``train_sentiment`` on the other folds only: its
hyper-parameters and temperature come from a validation part of those training folds, and
the fused model's item/reviewer context is built from them alone. The held-out fold is
touched once, for the numbers reported. A majority-class row shows what imbalance alone
scores.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from fusionrec.data.reviews import SENTIMENT_CLASSES, Reviews
from fusionrec.errors import ConfigError
from fusionrec.evaluate.classification import (
    brier_score,
    classification_metrics,
    expected_calibration_error,
)
from fusionrec.evaluate.metrics import mean_std
from fusionrec.tasks.sentiment.classifier import softmax
from fusionrec.tasks.sentiment.model import KINDS, stratified_folds, train_sentiment

log = logging.getLogger(__name__)

BASELINE = "majority"
#: Columns of the results table, in order: (key, header).
COLUMNS = (
    ("accuracy", "accuracy"),
    ("macro_f1", "macro-F1"),
    *((f"f1_{c}", f"F1 {c}") for c in SENTIMENT_CLASSES),
    ("ece_uncalibrated", "ECE before T"),
    ("ece", "ECE"),
    ("brier", "Brier"),
    ("rating_mae", "stars MAE"),
)
NAMES = {
    BASELINE: "majority class",
    "tfidf": "TF-IDF + logistic regression",
    "lm": "MiniLM embedding + classifier",
    "fused": "MiniLM + item & reviewer context",
}


@dataclass
class CrossValidation:
    """Per model, per fold metrics (and the settings each fold chose)."""

    n_folds: int
    seed: int
    folds: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    chosen: dict[str, list[str]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self, name: str) -> dict[str, tuple[float, float]]:
        """metric -> (mean, sample std over folds)."""
        rows = self.folds[name]
        return {key: mean_std([r[key] for r in rows]) for key in rows[0]}

    def verdict(self) -> str:
        """Plainly: does the best model beat the TF-IDF baseline on macro-F1?"""
        models = [k for k in self.folds if k in KINDS]
        if "tfidf" not in models or len(models) < 2:
            return "No comparison with the TF-IDF baseline (it or its rivals were not run)."
        mean = {k: self.summary(k)["macro_f1"][0] for k in models}
        best = max(models, key=mean.__getitem__)
        if best == "tfidf":
            return (
                f"No: the TF-IDF baseline has the best mean macro-F1 ({mean['tfidf']:.3f}); "
                "no language-model model beats it."
            )
        diffs = np.asarray(
            [
                b["macro_f1"] - t["macro_f1"]
                for b, t in zip(self.folds[best], self.folds["tfidf"], strict=True)
            ]
        )
        wins = int((diffs > 0).sum())
        spread = mean_std(diffs)[1]
        noise = (
            "a difference smaller than its fold-to-fold spread, so within noise"
            if abs(diffs.mean()) <= spread
            else "a difference larger than its fold-to-fold spread"
        )
        return (
            f"Yes on average: {NAMES[best]} has macro-F1 {mean[best]:.3f} vs TF-IDF "
            f"{mean['tfidf']:.3f} (+{diffs.mean():.3f}, paired fold differences ± {spread:.3f}; "
            f"higher in {wins} of {self.n_folds} folds): {noise}."
        )


def _fold_metrics(
    labels: np.ndarray, logits: np.ndarray, temperature: float, ratings: np.ndarray, stars
) -> dict[str, float]:
    probs = softmax(logits, temperature)
    out = classification_metrics(labels, probs.argmax(axis=1), SENTIMENT_CLASSES)
    keep = {k for k, _ in COLUMNS}
    out = {k: v for k, v in out.items() if k in keep}
    out["ece_uncalibrated"] = expected_calibration_error(softmax(logits), labels)
    out["ece"] = expected_calibration_error(probs, labels)
    out["brier"] = brier_score(probs, labels)
    rated = ~np.isnan(ratings)
    out["rating_mae"] = float(np.abs(stars - ratings)[rated].mean()) if rated.any() else np.nan
    return out


def _require_each_class_in_every_fold(labels: np.ndarray, n_folds: int) -> None:
    """A class with fewer reviews than folds is missing from some test folds, where its F1
    would count as 0 however well it is predicted: refused, rather than reported low."""
    counts = np.bincount(labels, minlength=len(SENTIMENT_CLASSES))
    named = zip(SENTIMENT_CLASSES, counts.tolist(), strict=True)
    rare = [(name, n) for name, n in named if 0 < n < n_folds]
    if rare:
        shown = ", ".join(f"{name} has {n}" for name, n in rare)
        fewest = min(n for _, n in rare)
        fix = f"use --folds {fewest} or fewer" if fewest >= 2 else "give more reviews"
        raise ConfigError(
            f"{n_folds} folds, but {shown} review(s): some test folds would hold none of "
            f"that class and score its F1 as 0; {fix}"
        )


def cross_validate(
    reviews: Reviews,
    kinds: Sequence[str] = KINDS,
    *,
    n_folds: int = 5,
    seed: int = 0,
    embeddings: np.ndarray | None = None,
    text_model: str | None = None,
    on_fold: Callable[[str, int], None] | None = None,
) -> CrossValidation:
    """Seeded stratified ``n_folds``-fold CV of ``kinds`` plus the majority-class baseline."""
    frame = reviews.frame
    labels = reviews.labels
    _require_each_class_in_every_fold(labels, n_folds)
    ratings = frame["rating"].to_numpy(dtype=float)
    if embeddings is None and any(k in ("lm", "fused") for k in kinds):
        from fusionrec.tasks.sentiment.features import embed_reviews

        embeddings = embed_reviews(reviews.texts, text_model)
    folds = stratified_folds(labels, n_folds, seed)
    result = CrossValidation(n_folds, seed)
    for name in (BASELINE, *kinds):
        result.folds[name], result.chosen[name] = [], []
        start = time.perf_counter()
        for fold in range(n_folds):
            test, train = folds == fold, folds != fold
            if name == BASELINE:
                majority = np.bincount(labels[train], minlength=3).argmax()
                logits = np.full((test.sum(), 3), -1e3)
                logits[:, majority] = 0.0
                median = np.nanmedian(ratings[train]) if (~np.isnan(ratings[train])).any() else 3
                stars, temperature = np.full(test.sum(), median), 1.0
            else:
                model = train_sentiment(
                    frame[train],
                    name,
                    embeddings=None if embeddings is None else embeddings[train],
                    seed=seed + fold,
                    text_model=text_model,
                )
                logits, stars = model.logits_and_rating(
                    frame[test], None if embeddings is None else embeddings[test]
                )
                temperature = model.temperature
                result.chosen[name].append(f"{model.params.label()}, T={temperature:.2f}")
            result.folds[name].append(
                _fold_metrics(labels[test], logits, temperature, ratings[test], stars)
            )
            if on_fold:
                on_fold(name, fold)
        result.seconds[name] = time.perf_counter() - start
    return result


def results_markdown(result: CrossValidation) -> str:
    """The results table (mean ± sample std over folds) and the verdict, as markdown."""
    header = "| model | " + " | ".join(h for _, h in COLUMNS) + " |"
    lines = [header, "|" + "---|" * (len(COLUMNS) + 1)]
    for name in result.folds:
        summary = result.summary(name)
        cells = []
        for key, _ in COLUMNS:
            mean, std = summary[key]
            cells.append("-" if np.isnan(mean) else f"{mean:.3f} ± {std:.3f}")
        lines.append(f"| {NAMES.get(name, name)} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"**Does the best model beat the TF-IDF baseline on macro-F1?** {result.verdict()}",
    ]
    chosen = [
        f"- {NAMES.get(n, n)}: " + "; ".join(f"fold {i + 1}: {c}" for i, c in enumerate(v))
        for n, v in result.chosen.items()
        if v
    ]
    if chosen:
        lines += ["", "Settings chosen on each training fold's validation part:", "", *chosen]
    return "\n".join(lines) + "\n"
