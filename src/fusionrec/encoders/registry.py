"""Build an encoder from its config section; heavy libraries are imported only here, lazily.

Keeping these imports out of ``fusionrec.encoders`` lets models and the CLI import the
package without paying for torch/transformers until an encoder is actually built.
"""

from __future__ import annotations

from fusionrec.encoders.base import BaseEncoder
from fusionrec.encoders.config import (
    ClipImage,
    ClipText,
    EfficientNetImage,
    LanguageModelText,
    LogMelAudio,
    SentenceTransformerText,
    TfidfText,
)


def make_encoder(
    config: SentenceTransformerText
    | LanguageModelText
    | TfidfText
    | ClipText
    | EfficientNetImage
    | ClipImage
    | LogMelAudio,
) -> BaseEncoder:
    """The encoder a config section describes (cheap: the model loads on first ``encode``)."""
    if isinstance(config, SentenceTransformerText):
        from fusionrec.encoders.sentence_transformer import SentenceTransformerEncoder

        return SentenceTransformerEncoder(config)
    if isinstance(config, LanguageModelText):
        from fusionrec.encoders.language_model import LanguageModelEncoder

        return LanguageModelEncoder(config)
    if isinstance(config, TfidfText):
        from fusionrec.encoders.tfidf import TfidfSvdEncoder

        return TfidfSvdEncoder(config)
    if isinstance(config, ClipText):
        from fusionrec.encoders.clip import ClipTextEncoder

        return ClipTextEncoder(config)
    if isinstance(config, ClipImage):
        from fusionrec.encoders.clip import ClipImageEncoder

        return ClipImageEncoder(config)
    if isinstance(config, EfficientNetImage):
        from fusionrec.encoders.efficientnet import EfficientNetLiteEncoder

        return EfficientNetLiteEncoder(config)
    if isinstance(config, LogMelAudio):
        from fusionrec.encoders.audio import LogMelEncoder

        return LogMelEncoder(config)
    raise TypeError(f"no encoder for config {type(config).__name__}")
