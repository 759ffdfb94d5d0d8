"""Any Hugging Face ``transformers`` model as a text encoder.

Works for encoder models (BERT family; the encoder half of T5-style encoder-decoders) and
decoder-only LLMs (GPT-2, Llama, Qwen). Texts are tokenized once, sorted by token length
and batched so padding wastes little compute; rows are written back in input order.

Pooling: ``mean`` over real tokens, ``cls`` = first token, ``last`` = last real token. The
last real token is found from the attention mask, so it is right for either padding side
(decoder LLMs are usually padded on the left).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import numpy as np

from fusionrec.encoders.base import (
    TextEncoder,
    fingerprint_model_dir,
    length_sorted_batches,
    no_load_bar,
    settings_string,
    torch_device,
)
from fusionrec.encoders.config import LanguageModelText
from fusionrec.errors import ConfigError


def load_tokenizer(source: str) -> Any:
    """A tokenizer that can pad: decoder LLMs often lack a pad token, so reuse EOS/UNK."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source)
    if tokenizer.pad_token is None:
        fallback = tokenizer.eos_token or tokenizer.unk_token
        if fallback is None:
            raise ConfigError(f"tokenizer of {source!r} has no pad, eos or unk token to pad with")
        tokenizer.pad_token = fallback
    return tokenizer


def model_version(name: str) -> tuple[str, str]:
    """(what to load, version tag): a local folder is fingerprinted, a hub id is taken as is."""
    path = Path(name).expanduser()
    if path.exists():
        return str(path.resolve()), fingerprint_model_dir(path)
    return name, "hub"


def pool_hidden(hidden: Any, attention_mask: Any, pooling: str) -> Any:
    """Pool ``[batch, tokens, dim]`` hidden states to ``[batch, dim]`` over real tokens."""
    import torch

    mask = attention_mask.to(hidden.dtype)
    if pooling == "mean":
        summed = torch.einsum("btd,bt->bd", hidden, mask)
        return summed / mask.sum(1, keepdim=True).clamp_min(1.0)
    positions = torch.arange(hidden.shape[1], device=hidden.device).expand_as(attention_mask)
    real = attention_mask.bool()
    if pooling == "cls":
        index = torch.where(real, positions, hidden.shape[1]).min(1).values
    else:  # last
        index = torch.where(real, positions, -1).max(1).values
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), index]


class LanguageModelEncoder(TextEncoder):
    """Hidden states of a ``transformers`` model, pooled and optionally L2-normalised."""

    def __init__(self, config: LanguageModelText) -> None:
        super().__init__()
        self.config = config
        self._source, version = model_version(config.model)
        self.id = f"hf:{Path(config.model).name}@{version}:" + settings_string(
            pooling=config.pooling,
            normalize=config.normalize,
            max_length=config.max_length,
            prefix=config.prefix,
            dtype=config.dtype,
        )
        self._model: Any = None
        self._tokenizer: Any = None
        self._device = "cpu"
        self._takes_positions = False

    def _load(self) -> None:
        import torch
        from transformers import AutoConfig, AutoModel

        try:
            hf_config = AutoConfig.from_pretrained(self._source)
            self._tokenizer = load_tokenizer(self._source)
            with no_load_bar():
                dtype = getattr(torch, self.config.dtype)
                model = AutoModel.from_pretrained(self._source, dtype=dtype)
        except OSError as exc:
            raise ConfigError(
                f"features.text.model {self.config.model!r} could not be loaded: {exc}"
            ) from None
        if getattr(hf_config, "is_encoder_decoder", False):
            model = model.get_encoder()
        self._device = torch_device(self.config.device)
        self._model = model.to(self._device).eval()
        self._takes_positions = "position_ids" in inspect.signature(model.forward).parameters

    @property
    def model(self) -> Any:
        if self._model is None:
            self._load()
        return self._model

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            self._load()
        return self._tokenizer

    @property
    def dim(self) -> int:
        return int(
            self.model.config.hidden_size
            if hasattr(self.model.config, "hidden_size")
            else self.model.config.d_model
        )

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        """Token ids per text, truncated to ``max_length``, unpadded."""
        texts = [self.config.prefix + t for t in texts]
        return self.tokenizer(
            texts, truncation=True, max_length=self.config.max_length, padding=False
        )["input_ids"]

    def pad(self, ids: list[list[int]]) -> dict[str, Any]:
        """A padded batch as tensors on the model's device."""
        batch = self.tokenizer.pad({"input_ids": ids}, padding=True, return_tensors="pt")
        return {k: v.to(self._device) for k, v in batch.items()}

    def forward(self, batch: dict[str, Any]) -> Any:
        """Pooled (and normalised) embeddings of one padded batch."""
        import torch

        if self._takes_positions:
            # Positions count real tokens only, so a left-padded text gets the same absolute
            # position embeddings (GPT-2) as when encoded alone.
            batch = {**batch, "position_ids": (batch["attention_mask"].cumsum(1) - 1).clamp_min(0)}
        hidden = self.model(**batch).last_hidden_state
        pooled = pool_hidden(hidden, batch["attention_mask"], self.config.pooling).float()
        if self.config.normalize:
            pooled = torch.nn.functional.normalize(pooled, dim=1)
        return pooled

    def embed(self, texts: list[str]) -> np.ndarray:
        import torch

        ids = self.tokenize(texts)
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for index in length_sorted_batches([len(x) for x in ids], self.config.batch_size):
                batch = self.pad([ids[i] for i in index.tolist()])
                out[index] = self.forward(batch).cpu().numpy()
        return out
