"""Fusion building blocks: the modality projector (with standardisation) and the operators."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fusionrec.data.features import ItemFeatures, ModalityFeatures
from fusionrec.models.fusion import ModalityProjector, PresentRows, make_fusion


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


def _layers(d_in: int) -> list[torch.nn.Module]:
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(d_in, 5), torch.nn.LeakyReLU(), torch.nn.Linear(5, 3))
    return [torch.nn.Linear(d_in, 3), mlp]


@pytest.mark.parametrize("present", ["some", "all", "none"])
def test_present_rows_project_like_the_full_matrix_with_the_same_gradients(present):
    """Projecting only the rows that hold features must be invisible: the same output for
    every row (missing ones: the layer applied to zeros) and the same parameter gradients."""
    rng = np.random.default_rng(1)
    mask = {"some": rng.random(30) < 0.5, "all": np.ones(30, bool), "none": np.zeros(30, bool)}
    feats = ModalityFeatures("image", rng.normal(size=(30, 7)).astype(np.float32), mask[present])
    matrix, m = torch.from_numpy(feats.matrix), torch.from_numpy(feats.mask)
    rows = PresentRows(matrix, m)
    assert (rows.rows is None) == (present == "all")
    weights = torch.from_numpy(rng.normal(size=(30, 3)).astype(np.float32))
    for layer in _layers(7):
        grads = []
        for out in (layer(matrix), rows.project(layer)):
            layer.zero_grad()
            (out * weights).sum().backward()
            grads.append([p.grad.clone() for p in layer.parameters()])
        torch.testing.assert_close(rows.project(layer), layer(matrix), atol=1e-6, rtol=1e-5)
        for full, packed in zip(*grads, strict=True):
            torch.testing.assert_close(packed, full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("present", ["some", "all", "none"])
def test_present_rows_rebuild_rows_of_the_full_matrix(present):
    """``take`` and ``full`` give back the rows of the matrix the packed rows came from."""
    rng = np.random.default_rng(2)
    mask = {"some": rng.random(30) < 0.5, "all": np.ones(30, bool), "none": np.zeros(30, bool)}
    feats = ModalityFeatures("image", rng.normal(size=(30, 7)).astype(np.float32), mask[present])
    matrix = torch.from_numpy(feats.matrix)
    rows = PresentRows(matrix, torch.from_numpy(feats.mask))
    assert torch.equal(rows.full(), matrix)
    items = torch.from_numpy(rng.integers(0, 30, size=(4, 9)))
    assert torch.equal(rows.take(items), matrix[items])
    if present != "all":
        assert rows.packed.shape[0] == int(feats.mask.sum())  # the zeros are not kept


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


@pytest.mark.parametrize("standardize", [False, True])
def test_project_rows_gives_forwards_rows_and_masks(standardize):
    feats = _features()
    proj = ModalityProjector(feats, 8, hidden=5, standardize=standardize)
    missing = np.flatnonzero(~feats["image"].mask)
    assert len(missing) > 0
    items = torch.tensor([missing[0], 0, missing[0], feats.n_items - 1, 1])
    full, full_masks = proj()
    rows, masks = proj.project_rows(items)
    for whole, part, whole_mask, part_mask in zip(full, rows, full_masks, masks, strict=True):
        torch.testing.assert_close(part, whole[items])
        assert torch.equal(part_mask, whole_mask[items])


@pytest.mark.parametrize("name", ["concat", "sum", "gated"])
def test_fusion_ignores_missing_modalities(name):
    torch.manual_seed(0)
    xs = [torch.randn(5, 4), torch.randn(5, 4)]
    masks = [torch.tensor([True] * 5), torch.tensor([True, False, True, False, True])]
    fuse = make_fusion(name, 2, 4)
    out = fuse(xs, masks)
    changed = [xs[0], xs[1] + 100.0 * (~masks[1]).unsqueeze(1)]  # garbage only where missing
    torch.testing.assert_close(fuse(changed, masks), out)
