from __future__ import annotations

import numpy as np
import pytest

from fusionrec.encoders import make_encoder
from fusionrec.encoders.config import LanguageModelText, SentenceTransformerText, TfidfText

TEXTS = [
    "A young farm boy joins a rebellion against a galactic empire.",
    "",
    "Rebels fight the evil empire in a war among the stars.",
    "   ",
    "A chef opens a small restaurant in Paris and falls in love.",
]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module")
def minilm():
    return make_encoder(SentenceTransformerText())


def test_sentence_transformer_default_is_384d_normalised_and_masks_empty(minilm):
    matrix, mask = minilm.encode(TEXTS)
    assert matrix.shape == (5, 384) and matrix.dtype == np.float32
    assert mask.tolist() == [True, False, True, False, True]
    assert not matrix[~mask].any()
    np.testing.assert_allclose(np.linalg.norm(matrix[mask], axis=1), 1.0, atol=1e-5)
    assert minilm.problems == {1: "empty text", 3: "empty text"}


def test_sentence_transformer_puts_related_texts_closer(minilm):
    matrix, _ = minilm.encode(TEXTS)
    assert cosine(matrix[0], matrix[2]) > cosine(matrix[0], matrix[4]) + 0.1


def test_loading_a_model_draws_no_progress_bar_and_leaves_the_setting_alone(tiny_models, capfd):
    """transformers draws a "Loading weights" bar on every load; each text query of
    ``fusionrec recommend --text`` loads the model, so the bar is hidden while loading, and
    only then: a user's own choice for transformers' bars is left as it was."""
    from transformers.utils import logging as hf_logging

    hf_logging.enable_progress_bar()  # transformers' default, whatever ran before
    assert make_encoder(SentenceTransformerText()).model is not None
    hf = make_encoder(LanguageModelText(encoder="hf", model=str(tiny_models["bert"])))
    assert hf.encode(TEXTS[:1])[0].shape == (1, 32)  # loads the model
    assert "Loading weights" not in capfd.readouterr().err
    assert hf_logging.is_progress_bar_enabled()


def test_encoder_id_names_model_version_and_settings(minilm):
    assert minilm.id.startswith("sentence-transformers:all-MiniLM-L6-v2@gt-")
    assert "normalize=True" in minilm.id
    other = make_encoder(SentenceTransformerText(normalize=False))
    assert other.id != minilm.id


@pytest.mark.parametrize("arch", ["bert", "gpt2", "llama", "qwen2", "t5"])
@pytest.mark.parametrize("pooling", ["mean", "cls", "last"])
def test_hf_models_pool_every_architecture(tiny_models, arch, pooling):
    encoder = make_encoder(
        LanguageModelText(encoder="hf", model=str(tiny_models[arch]), pooling=pooling)
    )
    matrix, mask = encoder.encode(TEXTS)
    assert matrix.shape == (5, 32) and mask.tolist() == [True, False, True, False, True]
    np.testing.assert_allclose(np.linalg.norm(matrix[mask], axis=1), 1.0, atol=1e-5)
    assert np.isfinite(matrix).all()


@pytest.mark.parametrize("arch", ["bert", "llama"])
@pytest.mark.parametrize("pooling", ["mean", "cls", "last"])
def test_length_batching_gives_the_unbatched_result_in_input_order(tiny_models, arch, pooling):
    # One text per batch has no padding at all; batches of 3 mix lengths and pad
    # (left-padded for llama), so pooling must ignore padding on either side.
    texts = [TEXTS[0], TEXTS[4], "short", TEXTS[2], "a b c d e f g h i j k l m n o p"]
    make = lambda bs: make_encoder(  # noqa: E731
        LanguageModelText(
            encoder="hf", model=str(tiny_models[arch]), pooling=pooling, batch_size=bs
        )
    )
    batched, _ = make(3).encode(texts)
    single, _ = make(1).encode(texts)
    np.testing.assert_allclose(batched, single, atol=1e-4)


def test_last_and_cls_pooling_pick_the_right_tokens_despite_left_padding(tiny_models):
    import torch
    from transformers import AutoModel, AutoTokenizer

    path = str(tiny_models["gpt2"])  # saved with padding_side="left"
    texts = ["one two three four five six seven", "one two"]
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    alone = tokenizer(texts[1:], return_tensors="pt")  # no padding at all
    with torch.inference_mode():
        hidden = model(input_ids=alone["input_ids"]).last_hidden_state[0]
    for pooling, row in (("last", hidden[-1]), ("cls", hidden[0])):
        encoder = make_encoder(
            LanguageModelText(encoder="hf", model=path, pooling=pooling, normalize=False)
        )
        matrix, _ = encoder.encode(texts)  # "one two" is padded in this batch
        np.testing.assert_allclose(matrix[1], row.numpy(), atol=1e-4)


def test_hf_normalize_off_keeps_raw_scale(tiny_models):
    model = str(tiny_models["bert"])
    raw, _ = make_encoder(LanguageModelText(encoder="hf", model=model, normalize=False)).encode(
        TEXTS[:1]
    )
    assert abs(np.linalg.norm(raw[0]) - 1.0) > 1e-3


def test_tfidf_svd_groups_documents_by_shared_words():
    texts = [
        "space war rebels empire stars",
        "rebels empire space battle stars",
        "cooking chef kitchen recipe food",
        "chef food restaurant kitchen recipe",
        "",
        "space stars galaxy empire rebels",
    ]
    encoder = make_encoder(TfidfText(encoder="tfidf", dim=3, min_df=1, max_df=1.0))
    matrix, mask = encoder.encode(texts)
    assert matrix.shape == (6, 3) and mask.tolist() == [True] * 4 + [False, True]
    assert cosine(matrix[0], matrix[1]) > cosine(matrix[0], matrix[2]) + 0.5
    assert cosine(matrix[2], matrix[3]) > cosine(matrix[2], matrix[5]) + 0.5
    again, _ = encoder.encode(texts)
    np.testing.assert_array_equal(matrix, again)  # deterministic signs and start vector
    assert encoder.chunkable is False
