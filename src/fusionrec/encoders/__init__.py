"""Item content -> features: text, image and audio encoders and a cached feature store.

Importing this package is cheap: torch, transformers and sentence-transformers are imported
only when an encoder first runs. Main entry points:

* ``build_item_features(dataset, config)`` -> ``ItemFeatures`` (one matrix + mask per modality)
* ``extract_item_features`` -> the same plus a ``FeatureReport`` (dims, coverage, problems)
* ``make_encoder(config.text)`` -> an ``Encoder`` for ad-hoc inputs (e.g. search queries)
"""

from fusionrec.encoders.base import Encoder
from fusionrec.encoders.config import FeaturesConfig, load_features_config, parse_features_config
from fusionrec.encoders.pipeline import (
    FeatureReport,
    ModalityReport,
    build_item_features,
    extract_item_features,
)
from fusionrec.encoders.precomputed import load_precomputed
from fusionrec.encoders.registry import make_encoder
from fusionrec.encoders.store import FeatureStore, default_cache_dir

__all__ = [
    "Encoder",
    "FeatureReport",
    "FeatureStore",
    "FeaturesConfig",
    "ModalityReport",
    "build_item_features",
    "default_cache_dir",
    "extract_item_features",
    "load_features_config",
    "load_precomputed",
    "make_encoder",
    "parse_features_config",
]
