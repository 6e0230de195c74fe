"""Defects: exact masks, bounded area, visible, anywhere in the frame, deterministic."""

import numpy as np
import pytest

from edgekit.demo.defects import (
    ALPHA_MIN,
    AREA_FRACTION_RANGE,
    MIN_CHANGE,
    DefectKind,
    apply_defect,
    finalize,
)
from edgekit.demo.scenes import DemoCategory, Scene


@pytest.fixture(scope="module")
def scenes():
    return {(c, s): Scene.load(c, s) for c in DemoCategory for s in (64, 128, 256)}


@pytest.mark.parametrize("kind", list(DefectKind))
@pytest.mark.parametrize("category", list(DemoCategory))
@pytest.mark.parametrize("size", [64, 128, 256])
def test_mask_is_exactly_the_changed_pixels(scenes, kind, category, size):
    low, high = AREA_FRACTION_RANGE
    for seed in range(4):
        rng = np.random.default_rng(seed)
        clean = scenes[category, size].render(rng)
        before = clean.copy()
        sample = apply_defect(clean, kind, rng)

        assert np.array_equal(clean, before), "the clean frame must not be modified"
        assert sample.image.shape == clean.shape and sample.image.dtype == np.uint8
        assert sample.mask.shape == clean.shape[:2] and sample.mask.dtype == np.uint8
        assert set(np.unique(sample.mask)) == {0, 255}
        change = np.abs(sample.image.astype(np.int16) - clean).max(axis=2)
        assert np.array_equal(sample.mask > 0, change > 0)
        assert low <= sample.area_fraction <= high
        inside = change[sample.mask > 0]
        assert inside.min() >= MIN_CHANGE
        assert inside.mean() >= 20, "a defect must be visible, not noise"
        x0, y0, x1, y1 = sample.box_xyxy
        ys, xs = np.nonzero(sample.mask)
        assert (x0, y0, x1, y1) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def test_defects_reach_borders_and_seams(scenes):
    scene = scenes[DemoCategory.GRAVEL, 128]
    touches_border = near_middle = 0
    for seed in range(60):
        rng = np.random.default_rng(seed)
        sample = apply_defect(scene.render(rng), list(DefectKind)[seed % 4], rng)
        x0, y0, x1, y1 = sample.box_xyxy
        touches_border += x0 == 0 or y0 == 0 or x1 == 128 or y1 == 128
        near_middle += x0 <= 64 < x1 or y0 <= 64 < y1  # the seam of a 2x2 grid
    assert touches_border >= 3
    assert near_middle >= 3


def test_same_generator_same_defect(scenes):
    clean = scenes[DemoCategory.COFFEE, 128].render(np.random.default_rng(0))
    a = apply_defect(clean, DefectKind.STAIN, np.random.default_rng(7))
    b = apply_defect(clean, DefectKind.STAIN, np.random.default_rng(7))
    c = apply_defect(clean, DefectKind.STAIN, np.random.default_rng(8))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    assert not np.array_equal(a.mask, c.mask)


def test_finalize_pushes_weak_pixels_and_restores_the_rest():
    clean = np.array([[[0, 0, 0], [255, 255, 255], [100, 100, 100], [50, 60, 70]]], np.uint8)
    blended = clean.astype(np.float32) + np.array(
        [[[0, 0, 0], [1, 1, 1], [-2, 0, 0], [40, 0, 0]]], np.float32
    )
    region = np.array([[True, True, True, False]])
    out = finalize(clean, blended, region)
    change = np.abs(out.astype(int) - clean).max(axis=2)
    assert (change[region] >= MIN_CHANGE).all()
    assert change[0, 3] == 0
    assert ALPHA_MIN > 0


def test_rejects_non_bgr_frame():
    with pytest.raises(ValueError, match="uint8"):
        apply_defect(np.zeros((64, 64), np.uint8), DefectKind.HOLE, np.random.default_rng(0))
