"""Review sentiment (negative / neutral / positive and the star rating), from the review's
text alone or fused with the item's and the reviewer's training reviews.

Main entry points (torch is imported only when one is used):

* ``read_reviews(path)`` -> cleaned, labelled ``Reviews`` (re-exported from the data layer)
* ``train_sentiment(reviews.frame, kind)`` -> ``SentimentModel`` (``predict``, ``save``)
* ``load_sentiment_model(path)``; ``default_model()`` -> the cached model trained on the
  team's Amazon fashion reviews
* ``cross_validate(reviews)`` -> per-fold metrics; ``results_markdown`` -> the table
"""

from __future__ import annotations

from typing import Any

from fusionrec.data.reviews import SENTIMENT_CLASSES, ReviewColumns, Reviews, read_reviews

_LAZY = {
    "SentimentModel": "fusionrec.tasks.sentiment.model",
    "train_sentiment": "fusionrec.tasks.sentiment.model",
    "KINDS": "fusionrec.tasks.sentiment.model",
    "load_sentiment_model": "fusionrec.tasks.sentiment.storage",
    "default_model": "fusionrec.tasks.sentiment.default",
    "cross_validate": "fusionrec.tasks.sentiment.evaluation",
    "results_markdown": "fusionrec.tasks.sentiment.evaluation",
}

__all__ = ["SENTIMENT_CLASSES", "ReviewColumns", "Reviews", "read_reviews", *_LAZY]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    module = importlib.import_module(_LAZY[name])
    attr = "load_model" if name == "load_sentiment_model" else name
    return getattr(module, attr)
