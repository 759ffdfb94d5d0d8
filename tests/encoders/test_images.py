from __future__ import annotations

import numpy as np
import pytest

from conftest import write_image
from fusionrec.encoders import make_encoder
from fusionrec.encoders.config import ClipImage, ClipText, EfficientNetImage
from fusionrec.encoders.images import load_rgb


@pytest.fixture(scope="module")
def image_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    good = [write_image(root / f"img{i}.png", seed=i) for i in range(3)]
    big = write_image(root / "big.jpg", seed=0, size=(920, 1380))  # same picture as img0, 10x
    corrupt = root / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    text_file = root / "notes.png"
    text_file.write_text("hello")
    return {
        "good": [str(p) for p in good],
        "big": str(big),
        "corrupt": str(corrupt),
        "text": str(text_file),
        "missing": str(root / "nope.jpg"),
    }


def test_load_rgb_resizes_short_side_and_centre_crops(image_files):
    pixels = load_rgb(image_files["good"][0], 64)
    assert pixels.shape == (64, 64, 3) and pixels.dtype == np.uint8


@pytest.mark.parametrize("mode", ["I;16", "I", "F"])
def test_deep_greyscale_keeps_its_range(tmp_path, mode):
    """A 16-bit (or 32-bit) greyscale gradient reads as the 8-bit one, not clipped white."""
    from PIL import Image

    ramp = np.tile(np.linspace(0, 1, 64), (64, 1))
    Image.fromarray(np.round(ramp * 255).astype(np.uint8), "L").save(tmp_path / "g8.png")
    deep = {"I;16": ramp * 65535, "I": ramp * 65535, "F": ramp}[mode]
    dtype = {"I;16": np.uint16, "I": np.int32, "F": np.float32}[mode]
    image = Image.fromarray((np.round(deep) if mode != "F" else deep).astype(dtype))
    assert image.mode == mode
    path = tmp_path / f"deep.{'png' if mode == 'I;16' else 'tif'}"
    image.save(path)
    reference = load_rgb(tmp_path / "g8.png", 32).astype(int)
    assert np.abs(load_rgb(path, 32).astype(int) - reference).max() <= 1


@pytest.fixture(scope="module")
def efficientnet():
    return make_encoder(EfficientNetImage(batch_size=2))


def test_efficientnet_features_and_problems_never_crash(efficientnet, image_files):
    f = image_files
    paths = [f["good"][0], None, f["corrupt"], f["good"][1], f["missing"], f["text"], f["big"]]
    matrix, mask = efficientnet.encode(paths)
    assert matrix.shape == (7, 1280) and matrix.dtype == np.float32
    assert mask.tolist() == [True, False, False, True, False, False, True]
    assert not matrix[~mask].any() and np.abs(matrix[mask]).sum(axis=1).min() > 0
    assert sorted(efficientnet.problems) == [1, 2, 4, 5]
    assert efficientnet.problems[1] == "no image"
    assert "not found" in efficientnet.problems[4]
    assert "unreadable" in efficientnet.problems[2] and "corrupt.jpg" in efficientnet.problems[2]


def test_efficientnet_same_picture_at_two_resolutions_is_nearest(efficientnet, image_files):
    f = image_files
    matrix, _ = efficientnet.encode([f["good"][0], f["good"][1], f["good"][2], f["big"]])
    dist = np.linalg.norm(matrix[:3] - matrix[3], axis=1)
    assert dist.argmin() == 0


def test_efficientnet_batching_and_memory_format_do_not_change_features(efficientnet, image_files):
    paths = image_files["good"][:2] + [image_files["big"]]
    a, _ = make_encoder(EfficientNetImage(batch_size=1, channels_last=False)).encode(paths)
    b, _ = efficientnet.encode(paths)  # batches of 2, channels-last
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3)


def test_efficientnet_id_names_weights_and_settings(efficientnet):
    assert efficientnet.id.startswith("efficientnet-lite0@")
    assert "image_size=224" in efficientnet.id
    assert make_encoder(EfficientNetImage(image_size=256)).id != efficientnet.id
    # batch size does not change the output, so it does not change the cache key
    assert make_encoder(EfficientNetImage(batch_size=1)).id == efficientnet.id


def test_clip_image_and_text_towers_share_one_space(tiny_clip, image_files):
    images = make_encoder(ClipImage(encoder="clip", model=str(tiny_clip), batch_size=2))
    texts = make_encoder(ClipText(encoder="clip", model=str(tiny_clip), batch_size=2))
    img, img_mask = images.encode(image_files["good"] + [image_files["corrupt"]])
    txt, txt_mask = texts.encode(["a red poster", "", "two people on a beach at night"])
    assert img.shape == (4, 16) and txt.shape == (3, 16)
    assert img_mask.tolist() == [True, True, True, False] and 3 in images.problems
    assert txt_mask.tolist() == [True, False, True]
    np.testing.assert_allclose(np.linalg.norm(img[:3], axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(txt[[0, 2]], axis=1), 1.0, atol=1e-5)
    assert images.id.startswith("clip-image:") and texts.id.startswith("clip-text:")
    # batching by length must not change a text's embedding
    alone, _ = texts.encode(["two people on a beach at night"])
    np.testing.assert_allclose(alone[0], txt[2], atol=1e-5)
