from __future__ import annotations

import pytest

from fusionrec.encoders import FeaturesConfig, load_features_config, parse_features_config
from fusionrec.encoders.config import (
    DEFAULT_TEXT_MODEL,
    EfficientNetImage,
    LanguageModelText,
    SentenceTransformerText,
)
from fusionrec.errors import ConfigError


def test_defaults_are_minilm_text_and_efficientnet_images():
    config = FeaturesConfig()
    assert isinstance(config.text, SentenceTransformerText)
    assert config.text.model == DEFAULT_TEXT_MODEL
    assert isinstance(config.image, EfficientNetImage)
    assert config.audio.encoder == "logmel"
    assert config.precomputed == {}


def test_encoder_is_chosen_by_tag_and_defaults_when_left_out():
    config = parse_features_config(
        {"text": {"encoder": "hf", "model": "gpt2", "pooling": "last"}, "image": {"batch_size": 4}}
    )
    assert isinstance(config.text, LanguageModelText) and config.text.pooling == "last"
    assert isinstance(config.image, EfficientNetImage) and config.image.batch_size == 4


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"text": {"encoder": "hf", "model": "m", "poolin": "mean"}}, "features.text.poolin"),
        ({"text": {"encoder": "hf", "model": "m", "pooling": "max"}}, "features.text.pooling"),
        ({"imgae": {}}, "features.imgae"),
        ({"text": {"encoder": "tfidf", "dim": 0}}, "features.text.dim"),
        ({"text": {"encoder": "nope"}}, "features.text"),
    ],
)
def test_errors_name_the_bad_key(data, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        parse_features_config(data)


def test_option_of_another_encoder_is_rejected():
    # 'pooling' belongs to the hf encoder, not to sentence-transformers.
    with pytest.raises(ConfigError, match=r"features\.text\.pooling"):
        parse_features_config({"text": {"pooling": "cls"}})


def test_precomputed_accepts_short_and_long_forms(tmp_path):
    config = parse_features_config(
        {"precomputed": {"text": "t.npy", "image": {"path": "i.parquet", "id_column": "asin"}}}
    )
    assert str(config.precomputed["text"].path) == "t.npy"
    assert config.precomputed["image"].id_column == "asin"


def test_yaml_file_with_or_without_features_section(tmp_path):
    nested = tmp_path / "exp.yaml"
    nested.write_text("features:\n  text:\n    encoder: tfidf\n    dim: 16\n")
    flat = tmp_path / "features.yaml"
    flat.write_text("text:\n  encoder: tfidf\n  dim: 16\n")
    assert load_features_config(nested) == load_features_config(flat)
    assert load_features_config(flat).text.dim == 16
