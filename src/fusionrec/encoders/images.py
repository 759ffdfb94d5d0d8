"""Image decoding and preprocessing (PIL + numpy only) with decoding ahead of the model.

A missing, unreadable or corrupt file never stops extraction: the item is reported as a
problem (index + reason) and gets mask False. Decoding runs in a thread pool a few batches
ahead of the model (PIL releases the GIL while decoding and resizing), so the network, not
JPEG decoding, sets the pace.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError


def missing_path(value: object) -> bool:
    """True for NaN/None/empty path cells."""
    return value is None or (isinstance(value, float) and np.isnan(value)) or str(value) == ""


def load_rgb(path: str | Path, size: int) -> np.ndarray:
    """Decode ``path`` to uint8 [size, size, 3]: shorter side resized to ``size``, centre crop.

    A large JPEG is decoded at reduced scale (draft mode, 1/2 to 1/8) straight to about
    ``size``, so a 10000x10000 photo costs no more memory than a small one; PIL's
    decompression-bomb limit applies to the pixels actually decoded. Raises
    ``OSError``/``ValueError`` on anything unreadable; callers turn that into a problem.
    """
    with warnings.catch_warnings():
        # Checked below against the size decoded, which draft mode reduces.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        img = Image.open(path)
    with img:
        img.draft("RGB", (size, size))
        w, h = img.size
        limit = Image.MAX_IMAGE_PIXELS
        if limit is not None and w * h > limit:
            raise ValueError(
                f"{w}x{h} pixels exceed the decompression-bomb limit of {limit} pixels "
                "(only JPEGs can be decoded at reduced scale)"
            )
        img = _eight_bit(img).convert("RGB")
        scale = size / min(w, h)
        new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
        left, top = (new_w - size) // 2, (new_h - size) // 2
        img = img.resize(
            (size, size),
            Image.Resampling.BICUBIC,
            box=(left / scale, top / scale, (left + size) / scale, (top + size) / scale),
        )
        return np.asarray(img, dtype=np.uint8)


def _eight_bit(img: Image.Image) -> Image.Image:
    """Greyscale of more than 8 bits brought to 0-255 by its range: PIL's ``convert("RGB")``
    clips a 16-bit image's 0-65535 at 255, turning almost every pixel white."""
    if img.mode not in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return img
    pixels = np.asarray(img, dtype=np.float64)
    if img.mode == "F":
        top = 1.0 if pixels.size and np.nanmax(pixels) <= 1.0 else 255.0
    else:  # 16-bit, or 32-bit integers holding 16-bit data (as 16-bit PNGs may open)
        top = 65535.0 if img.mode.startswith("I;16") or pixels.max(initial=0) > 255 else 255.0
    scaled = np.clip(np.nan_to_num(pixels) * (255.0 / top), 0, 255)
    return Image.fromarray(np.round(scaled).astype(np.uint8), "L")


@dataclass
class ImageBatch:
    """Decoded images of one batch and where they sit in the input list."""

    index: np.ndarray  # positions (in the encode call's inputs) of the decoded images
    pixels: np.ndarray  # uint8 [len(index), size, size, 3]


def _decode_batch(
    paths: Sequence[object], positions: np.ndarray, size: int
) -> tuple[ImageBatch, dict[int, str]]:
    decoded, kept, problems = [], [], {}
    for pos in positions.tolist():
        path = paths[pos]
        if missing_path(path):
            problems[pos] = "no image"
            continue
        try:
            decoded.append(load_rgb(str(path), size))
            kept.append(pos)
        except FileNotFoundError:
            problems[pos] = f"file not found: {path}"
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
            problems[pos] = f"unreadable image {path}: {type(exc).__name__}: {exc}"
    pixels = np.stack(decoded) if decoded else np.zeros((0, size, size, 3), np.uint8)
    return ImageBatch(np.asarray(kept, dtype=np.int64), pixels), problems


def iter_image_batches(
    paths: Sequence[object],
    size: int,
    batch_size: int,
    workers: int,
    problems: dict[int, str],
    prefetch: int = 4,
) -> Iterator[ImageBatch]:
    """Yield decoded batches in order while later ones decode in ``workers`` threads.

    Failed items are recorded in ``problems`` and left out of the batches.
    """
    groups = [
        np.arange(i, min(i + batch_size, len(paths))) for i in range(0, len(paths), batch_size)
    ]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fusionrec-img") as pool:
        pending = [pool.submit(_decode_batch, paths, g, size) for g in groups[:prefetch]]
        next_group = len(pending)
        while pending:
            batch, failed = pending.pop(0).result()
            if next_group < len(groups):
                pending.append(pool.submit(_decode_batch, paths, groups[next_group], size))
                next_group += 1
            problems.update(failed)
            if len(batch.index):
                yield batch


def run_image_model(
    paths: Sequence[object],
    forward: Callable[[np.ndarray], np.ndarray],
    dim: int,
    size: int,
    batch_size: int,
    workers: int,
) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """Apply ``forward`` (uint8 NHWC batch -> float32 [b, dim]) to every readable image."""
    problems: dict[int, str] = {}
    matrix = np.zeros((len(paths), dim), dtype=np.float32)
    mask = np.zeros(len(paths), dtype=bool)
    for batch in iter_image_batches(paths, size, batch_size, workers, problems):
        matrix[batch.index] = forward(batch.pixels)
        mask[batch.index] = True
    return matrix, mask, dict(sorted(problems.items()))


def to_normalized_tensor(
    pixels: np.ndarray,
    mean: Sequence[float],
    std: Sequence[float],
    channels_last: bool,
) -> object:
    """uint8 NHWC numpy -> normalised float NCHW torch tensor (channels-last memory if asked)."""
    import torch

    x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float()  # NCHW view of NHWC memory
    scale = torch.tensor([255.0 * s for s in std]).view(1, 3, 1, 1)
    shift = torch.tensor([255.0 * m for m in mean]).view(1, 3, 1, 1)
    x = (x - shift) / scale
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    return x.contiguous(memory_format=fmt)
