"""Sentiment models: train (with validation-only selection and calibration), predict, save, load.

Three kinds, one classifier (``classifier.py``) over different inputs:

- ``tfidf``: word uni+bigram TF-IDF fitted on the training texts -> logistic regression (the
  baseline);
- ``lm``: the review's language-model embedding (all-MiniLM-L6-v2) -> classifier;
- ``fused``: that embedding + item and reviewer context from the training rows
  (``features.ContextTables``) -> classifier.

``train_sentiment`` picks the classifier's hyper-parameters by macro-F1 on a stratified
validation part of the rows it is given (never on anything else), fits the temperature on
that same part, then refits the chosen setting on all the rows it was given.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from fusionrec.data.reviews import SENTIMENT_CLASSES
from fusionrec.encoders.config import DEFAULT_TEXT_MODEL, TfidfText
from fusionrec.encoders.tfidf import fit_vocabulary, tfidf_transform
from fusionrec.errors import ConfigError, ModelError
from fusionrec.evaluate.classification import classification_metrics
from fusionrec.tasks.sentiment.classifier import (
    ClassifierParams,
    SentimentNet,
    fit_classifier,
    fit_temperature,
    forward_numpy,
    softmax,
)
from fusionrec.tasks.sentiment.features import ContextTables, Standardizer, text_encoder

log = logging.getLogger(__name__)

KINDS = ("tfidf", "lm", "fused")
TFIDF = TfidfText(encoder="tfidf", ngram_max=2, min_df=2, max_df=0.9, max_features=50_000)
_L2 = (1e-4, 1e-3, 1e-2)
#: Hyper-parameter candidates per kind, compared on validation macro-F1 only.
GRIDS: dict[str, tuple[ClassifierParams, ...]] = {
    "tfidf": tuple(ClassifierParams(weight_decay=w) for w in (1e-5, 1e-4, 1e-3)),
    "lm": tuple(ClassifierParams(hidden=h, weight_decay=w) for h in (0, 128) for w in _L2),
    "fused": tuple(ClassifierParams(hidden=h, weight_decay=w) for h in (0, 128) for w in _L2),
}


def stratified_folds(labels: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Fold index per row: each class shuffled (seeded) and dealt round-robin, so every fold
    has the class mix of the whole (to within one row per class)."""
    rng = np.random.default_rng(seed)
    folds = np.empty(len(labels), dtype=np.int64)
    offset = 0
    for cls in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == cls))
        folds[rows] = (offset + np.arange(len(rows))) % n_folds
        offset += len(rows)
    return folds


def review_frame(
    texts: Sequence[str],
    users: Sequence[str | None] | None = None,
    items: Sequence[str | None] | None = None,
) -> pd.DataFrame:
    """The frame ``predict`` needs for raw sentences (no rating, no label)."""
    n = len(texts)
    return pd.DataFrame(
        {
            "text": list(texts),
            "rating": np.full(n, np.nan),
            "label": np.zeros(n, dtype=np.int64),
            "user": list(users) if users is not None else [None] * n,
            "item": list(items) if items is not None else [None] * n,
        }
    )


@dataclass
class SentimentModel:
    """A trained classifier with everything needed to featurise new reviews."""

    kind: str
    params: ClassifierParams
    net: SentimentNet
    temperature: float = 1.0
    text_model: str | None = None
    vocab: dict[str, int] | None = None
    idf: np.ndarray | None = None
    standardizer: Standardizer | None = None
    context: ContextTables | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def features(
        self, frame: pd.DataFrame, emb: np.ndarray | None, own: bool = False
    ) -> np.ndarray | sp.csr_matrix:
        """Classifier input for ``frame``; ``own`` only for the rows the model was fitted on."""
        if self.kind == "tfidf":
            return tfidf_transform(frame["text"].tolist(), self.vocab, self.idf, TFIDF.ngram_max)
        if emb is None:
            emb = text_encoder(self.text_model).encode(frame["text"].tolist())[0]
        x = emb if self.kind == "lm" else np.hstack([emb, self.context.features(frame, emb, own)])
        return self.standardizer(x)

    def logits_and_rating(
        self, frame: pd.DataFrame, emb: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        return forward_numpy(self.net, self.features(frame, emb))

    def predict_proba(self, frame: pd.DataFrame, emb: np.ndarray | None = None) -> np.ndarray:
        """Calibrated class probabilities ``[rows, 3]`` in ``SENTIMENT_CLASSES`` order."""
        return softmax(self.logits_and_rating(frame, emb)[0], self.temperature)

    def predict(
        self,
        texts: Sequence[str],
        users: Sequence[str | None] | None = None,
        items: Sequence[str | None] | None = None,
        embeddings: np.ndarray | None = None,
    ) -> pd.DataFrame:
        """Per text: label, its probability, all class probabilities and the star rating.

        ``users``/``items`` give the fused model its context; unknown or missing ids get
        none (as for a reviewer with no other training review). ``texts`` may be one
        string; a blank or non-string text is an error naming its position (a label for
        nothing would look like an answer).
        """
        if isinstance(texts, str):
            texts = [texts]
        bad = [i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()]
        if bad:
            raise ConfigError(
                f"texts {bad[:5]}{' ...' if len(bad) > 5 else ''} are blank or not strings; "
                "give each review's text"
            )
        users = _one_per_text("users", users, len(texts))
        items = _one_per_text("items", items, len(texts))
        if embeddings is not None and len(embeddings) != len(texts):
            raise ConfigError(
                f"embeddings has {len(embeddings)} rows for {len(texts)} texts; give one per text"
            )
        frame = review_frame(texts, users, items)
        logits, rating = self.logits_and_rating(frame, embeddings)
        probs = softmax(logits, self.temperature)
        best = probs.argmax(axis=1)
        out = pd.DataFrame(
            {
                "label": np.asarray(SENTIMENT_CLASSES)[best],
                "probability": probs[np.arange(len(best)), best],
                **{f"p_{c}": probs[:, i] for i, c in enumerate(SENTIMENT_CLASSES)},
                "rating": rating,
                "text": list(texts),
            }
        )
        return out

    def save(self, path: str | Path) -> Path:
        from fusionrec.tasks.sentiment.storage import save_model

        return save_model(self, path)

    @staticmethod
    def load(path: str | Path) -> SentimentModel:
        from fusionrec.tasks.sentiment.storage import load_model

        return load_model(path)


def fit_model(
    frame: pd.DataFrame,
    kind: str,
    params: ClassifierParams,
    *,
    embeddings: np.ndarray | None,
    seed: int = 0,
    text_model: str | None = None,
) -> SentimentModel:
    """One fit of one setting on all of ``frame`` (temperature 1)."""
    if kind not in KINDS:
        raise ModelError(f"unknown sentiment model {kind!r}; choose one of {', '.join(KINDS)}")
    model = SentimentModel(kind, params, net=None, text_model=text_model)  # type: ignore[arg-type]
    if kind == "tfidf":
        model.vocab, model.idf = fit_vocabulary(frame["text"].tolist(), TFIDF)
        if not model.vocab:
            raise ModelError(
                f"no TF-IDF term occurs in {TFIDF.min_df}+ training texts; "
                "give more (or longer) training reviews"
            )
        x = model.features(frame, None)
    else:
        if kind == "fused":
            model.context = ContextTables.fit(frame, embeddings)
            raw = np.hstack([embeddings, model.context.features(frame, embeddings, own=True)])
        else:
            raw = embeddings
        model.standardizer = Standardizer.fit(raw)
        x = model.standardizer(raw)
    labels = frame["label"].to_numpy(dtype=np.int64)
    ratings = frame["rating"].to_numpy(dtype=float)
    model.net = fit_classifier(x, labels, ratings, len(SENTIMENT_CLASSES), params, seed)
    return model


def warn_if_too_few(labels: np.ndarray, val_macro_f1: float, val_folds: int) -> None:
    """Say when the reviews are too few to learn from: a class with fewer reviews than
    validation folds may be missing from validation, and a validation macro-F1 of 0 means
    the model is saved with near-uniform predictions (5 reviews gave temperature 100)."""
    counts = {name: int((labels == code).sum()) for code, name in enumerate(SENTIMENT_CLASSES)}
    rare = [name for name, n in counts.items() if 0 < n < val_folds]
    if rare or val_macro_f1 == 0:
        log.warning(
            "only %d training reviews (%s), validation macro-F1 %.3f: too few to learn "
            "sentiment from%s; the model is saved, but train on more reviews",
            len(labels),
            ", ".join(f"{name} {n}" for name, n in counts.items()),
            val_macro_f1,
            f" ({', '.join(rare)}: fewer than {val_folds}, the validation folds)" if rare else "",
        )


def train_sentiment(
    frame: pd.DataFrame,
    kind: str = "lm",
    *,
    embeddings: np.ndarray | None = None,
    grid: Sequence[ClassifierParams] | None = None,
    seed: int = 0,
    text_model: str | None = None,
    val_folds: int = 5,
    item_aliases: dict[str, str] | None = None,
) -> SentimentModel:
    """Select on a stratified 1/``val_folds`` validation part, calibrate there, refit on all.

    ``frame`` has the columns of ``Reviews.frame``; ``embeddings`` (rows aligned with it)
    are computed and cached when a model needs them and none are given. ``item_aliases``
    (``Reviews.item_aliases``) lets a fused model give a merged listing its product's
    context when asked about it by the listing's own id.
    """
    if kind not in KINDS:
        raise ModelError(f"unknown sentiment model {kind!r}; choose one of {', '.join(KINDS)}")
    frame = frame.reset_index(drop=True)
    labels = frame["label"].to_numpy(dtype=np.int64)
    if len(np.unique(labels)) < 2:
        raise ModelError("training reviews hold a single sentiment class; nothing to learn")
    if kind == "fused" and all(frame[c].isna().all() for c in ("user", "item")):
        log.warning(
            "--kind fused without reviewer or item ids in the reviews: there is no context to "
            "fuse, so it learns what --kind lm learns; map the reviewer and item fields "
            "(--user-col/--item-col, see docs/sentiment.md) or train --kind lm"
        )
    if kind in ("lm", "fused") and embeddings is None:
        from fusionrec.tasks.sentiment.features import embed_reviews

        embeddings = embed_reviews(frame["text"].tolist(), text_model)
    text_model = (text_model or DEFAULT_TEXT_MODEL) if kind != "tfidf" else None
    grid = tuple(grid or GRIDS[kind])
    is_val = stratified_folds(labels, val_folds, seed) == 0
    fit_part, val_part = frame[~is_val], frame[is_val]
    emb_fit = embeddings[~is_val] if embeddings is not None else None
    emb_val = embeddings[is_val] if embeddings is not None else None
    scores, logits = [], []
    for params in grid:
        candidate = fit_model(
            fit_part, kind, params, embeddings=emb_fit, seed=seed, text_model=text_model
        )
        val_logits = candidate.logits_and_rating(val_part, emb_val)[0]
        metrics = classification_metrics(
            val_part["label"].to_numpy(), val_logits.argmax(axis=1), SENTIMENT_CLASSES
        )
        scores.append(metrics["macro_f1"])
        logits.append(val_logits)
    best = int(np.argmax(scores))
    warn_if_too_few(labels, scores[best], val_folds)
    temperature = fit_temperature(logits[best], val_part["label"].to_numpy())
    model = fit_model(
        frame, kind, grid[best], embeddings=embeddings, seed=seed, text_model=text_model
    )
    model.temperature = temperature
    if model.context is not None:
        model.context.item_aliases = dict(item_aliases or {})
    model.info = {
        "rows": len(frame),
        "validation_rows": int(is_val.sum()),
        "selection": [
            {"params": asdict(p), "val_macro_f1": round(s, 4)}
            for p, s in zip(grid, scores, strict=True)
        ],
        "chosen": asdict(grid[best]),
        "seed": seed,
    }
    log.info(
        "sentiment %s: chose %s (validation macro-F1 %.3f), temperature %.2f",
        kind,
        grid[best].label(),
        scores[best],
        temperature,
    )
    return model


def _one_per_text(
    name: str, values: Sequence[str | None] | str | None, n_texts: int
) -> Sequence[str | None] | None:
    """``users``/``items`` as one entry per text (one id for one text is a list of one)."""
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    if len(values) != n_texts:
        raise ConfigError(
            f"{name} has {len(values)} entries for {n_texts} texts; give one per text "
            "(None where unknown)"
        )
    return values
