"""The default sentiment model: trained once on the team's Amazon fashion reviews, then cached.

``fusionrec sentiment predict`` without ``--model`` uses it, so a first-time user gets
predictions with no training step of their own. It is the text-only ``lm`` kind, because
predict reads bare sentences (no reviewer, no item). The cache folder's name hashes the
review file (path, size, modification time), the model kind and the storage version, so a
changed data file or format retrains instead of reusing a stale model.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from fusionrec.data.reviews import default_reviews_path, read_reviews
from fusionrec.encoders.base import stable_hash
from fusionrec.tasks.sentiment.model import SentimentModel, train_sentiment
from fusionrec.tasks.sentiment.storage import VERSION, load_model, save_model

log = logging.getLogger(__name__)

DEFAULT_KIND = "lm"


def sentiment_cache_dir() -> Path:
    """``$FUSIONREC_SENTIMENT_CACHE`` if set, else ``~/.cache/fusionrec/sentiment``."""
    env = os.environ.get("FUSIONREC_SENTIMENT_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "fusionrec" / "sentiment"


def default_model(
    cache_dir: str | Path | None = None,
    reviews_path: str | Path | None = None,
    kind: str = DEFAULT_KIND,
) -> SentimentModel:
    """The cached default model, training and caching it (atomically) on first use."""
    source = Path(reviews_path) if reviews_path is not None else default_reviews_path()
    stat = source.stat()
    key = stable_hash([str(source.resolve()), stat.st_size, stat.st_mtime_ns, kind, VERSION])
    folder = Path(cache_dir or sentiment_cache_dir()) / f"{kind}-{key[:16]}"
    if (folder / "manifest.json").exists():
        log.debug("default sentiment model from %s", folder)
        return load_model(folder)
    log.info("no cached default sentiment model yet: training one on %s (once)", source)
    start = time.perf_counter()
    reviews = read_reviews(source)
    model = train_sentiment(reviews.frame, kind, item_aliases=reviews.item_aliases)
    model.info["data"] = reviews.report.summary()
    if (folder / "manifest.json").exists():  # another process finished first: use its model
        return load_model(folder)
    save_model(model, folder)
    log.info(
        "trained the default sentiment model on %s reviews in %.0f s; cached at %s",
        f"{len(reviews):,}",
        time.perf_counter() - start,
        folder,
    )
    return model
