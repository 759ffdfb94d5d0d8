"""Fusion building blocks: the modality projector (with standardisation) and the operators."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fusionrec.data.features import ItemFeatures, ModalityFeatures
from fusionrec.models.fusion import ModalityProjector, make_fusion


def _features(seed: int = 0) -> ItemFeatures:
    rng = np.random.default_rng(seed)
    # CNN-like: non-negative, with a large component shared by every item
    image = (5.0 + rng.random((40, 6))).astype(np.float32)
    mask = np.ones(40, dtype=bool)
    mask[[3, 7]] = False
    text = rng.normal(size=(40, 4)).astype(np.float32)
    return ItemFeatures(
        40,
        {
            "image": ModalityFeatures("image", image, mask),
            "text": ModalityFeatures("text", text, np.ones(40, bool)),
        },
    )


def test_standardize_zscores_present_items_and_keeps_missing_rows_empty():
    feats = _features()
    proj = ModalityProjector(feats, 8, standardize=True)
    raw, mask = proj.raw("image"), proj.mask("image")
    torch.testing.assert_close(raw[mask].mean(0), torch.zeros(6), atol=1e-5, rtol=0)
    torch.testing.assert_close(raw[mask].std(0, unbiased=False), torch.ones(6), atol=1e-4, rtol=0)
    assert torch.equal(raw[~mask], torch.zeros(2, 6))
    # the source features are not modified in place
    assert feats["image"].matrix[mask.numpy()].min() >= 5.0


def test_standardize_separates_items_that_raw_projections_leave_parallel():
    feats = _features()

    def mean_cosine(standardize: bool) -> float:
        torch.manual_seed(0)
        z = ModalityProjector(feats, 8, standardize=standardize)()[0][0].detach()
        z = torch.nn.functional.normalize(z[feats["image"].mask], dim=1)
        return float((z @ z.T).mean())

    assert mean_cosine(False) > 0.9  # the shared component dominates every projection
    assert mean_cosine(True) < 0.3


@pytest.mark.parametrize("standardize", [False, True])
def test_encode_projects_new_rows_like_the_stored_ones(standardize):
    feats = _features()
    proj = ModalityProjector(feats, 8, hidden=5, standardize=standardize)
    stored = proj()[0][0]
    present = np.flatnonzero(feats["image"].mask)
    fresh = torch.from_numpy(feats["image"].matrix[present])
    torch.testing.assert_close(proj.encode("image", fresh), stored[present])


@pytest.mark.parametrize("name", ["concat", "sum", "gated"])
def test_fusion_ignores_missing_modalities(name):
    torch.manual_seed(0)
    xs = [torch.randn(5, 4), torch.randn(5, 4)]
    masks = [torch.tensor([True] * 5), torch.tensor([True, False, True, False, True])]
    fuse = make_fusion(name, 2, 4)
    out = fuse(xs, masks)
    changed = [xs[0], xs[1] + 100.0 * (~masks[1]).unsqueeze(1)]  # garbage only where missing
    torch.testing.assert_close(fuse(changed, masks), out)
