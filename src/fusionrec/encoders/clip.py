"""CLIP image and text towers (``transformers.CLIPModel``) from a local checkpoint.

Both towers project into one space, so items encoded with the image tower can be searched
with queries encoded by the text tower. Images are preprocessed with PIL + numpy using the
checkpoint's own size and channel statistics (``preprocessor_config.json`` when present).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from fusionrec.encoders.base import (
    BaseEncoder,
    TextEncoder,
    length_sorted_batches,
    no_load_bar,
    settings_string,
)
from fusionrec.encoders.config import ClipImage, ClipText
from fusionrec.encoders.images import run_image_model, to_normalized_tensor
from fusionrec.encoders.language_model import load_tokenizer, model_version
from fusionrec.errors import ConfigError

#: OpenAI CLIP preprocessing statistics, used when the checkpoint does not state its own.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@lru_cache(maxsize=2)
def load_clip(source: str, device: str) -> Any:
    """One shared ``CLIPModel`` per checkpoint, so the image and text encoders reuse it."""
    from transformers import CLIPModel

    try:
        with no_load_bar():
            return CLIPModel.from_pretrained(source).to(device).eval()
    except OSError as exc:
        raise ConfigError(f"CLIP checkpoint {source!r} could not be loaded: {exc}") from None


def projected(output: Any) -> Any:
    """``get_*_features`` returns a tensor in older transformers, a model output in newer."""
    return output if hasattr(output, "shape") else output.pooler_output


def image_statistics(source: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Channel mean/std from the checkpoint's preprocessor config, else OpenAI's."""
    config_file = Path(source) / "preprocessor_config.json"
    if config_file.exists():
        cfg = json.loads(config_file.read_text(encoding="utf-8"))
        return tuple(cfg.get("image_mean", CLIP_MEAN)), tuple(cfg.get("image_std", CLIP_STD))
    return CLIP_MEAN, CLIP_STD


class _ClipBase:
    def _setup(self, model_name: str, device: str | None, tower: str, **settings: Any) -> None:
        self._source, version = model_version(model_name)
        self._device_name = device
        self.id = f"clip-{tower}:{Path(model_name).name}@{version}:" + settings_string(**settings)

    @property
    def model(self) -> Any:
        from fusionrec.encoders.base import torch_device

        return load_clip(self._source, torch_device(self._device_name))

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device


class ClipImageEncoder(_ClipBase, BaseEncoder):
    """Image paths -> CLIP image embeddings (projection space)."""

    def __init__(self, config: ClipImage) -> None:
        BaseEncoder.__init__(self)
        self.config = config
        self._setup(config.model, config.device, "image", normalize=config.normalize)

    @property
    def dim(self) -> int:
        return int(self.model.config.projection_dim)

    @property
    def image_size(self) -> int:
        return int(self.model.config.vision_config.image_size)

    def forward_pixels(self, pixels: np.ndarray) -> np.ndarray:
        import torch

        mean, std = image_statistics(self._source)
        x = to_normalized_tensor(pixels, mean, std, channels_last=False).to(self.device)
        with torch.inference_mode():
            out = projected(self.model.get_image_features(pixel_values=x)).float()
            if self.config.normalize:
                out = torch.nn.functional.normalize(out, dim=1)
        return out.cpu().numpy()

    def encode(self, inputs: Sequence[object]) -> tuple[np.ndarray, np.ndarray]:
        matrix, mask, self.problems = run_image_model(
            inputs,
            self.forward_pixels,
            self.dim,
            self.image_size,
            self.config.batch_size,
            self.config.workers,
        )
        return matrix, mask


class ClipTextEncoder(_ClipBase, TextEncoder):
    """Texts -> CLIP text embeddings, in the same space as ``ClipImageEncoder``."""

    def __init__(self, config: ClipText) -> None:
        TextEncoder.__init__(self)
        self.config = config
        self._setup(
            config.model,
            config.device,
            "text",
            normalize=config.normalize,
            max_length=config.max_length,
        )
        self._tokenizer: Any = None

    @property
    def dim(self) -> int:
        return int(self.model.config.projection_dim)

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(self._source)
        return self._tokenizer

    def embed(self, texts: list[str]) -> np.ndarray:
        import torch

        max_length = min(
            self.config.max_length, int(self.model.config.text_config.max_position_embeddings)
        )
        ids = self.tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for index in length_sorted_batches([len(x) for x in ids], self.config.batch_size):
                batch = self.tokenizer.pad(
                    {"input_ids": [ids[i] for i in index.tolist()]},
                    padding=True,
                    return_tensors="pt",
                )
                batch = {k: v.to(self.device) for k, v in batch.items()}
                emb = projected(self.model.get_text_features(**batch)).float()
                if self.config.normalize:
                    emb = torch.nn.functional.normalize(emb, dim=1)
                out[index] = emb.cpu().numpy()
        return out
