"""Wide set scenes and defects: bundled photos, deterministic frames, exact masks within the size ranges."""

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from edgekit.demo.defects import MIN_CHANGE
from edgekit.demo.scenes import SceneKind
from edgekit.demo.wide import (
    AREA_RANGES,
    MIN_MEAN_CHANGE,
    SPECS,
    WIDE_AREA_RANGE,
    SizeClass,
    WideCategory,
    WideDefectKind,
    WideScene,
    apply_wide_defect,
    kind_area_range,
)
from edgekit.demo.wide.objects import _TRAY_PARTS

SIZE = 128
PAIRS = [(c, k) for c in WideCategory for k in SPECS[c].defect_kinds]


@pytest.fixture(scope="module")
def scenes():
    return {c: WideScene.load(c, SIZE) for c in WideCategory}


def test_the_set_is_wide():
    kinds = {c: SPECS[c].kind for c in WideCategory}
    assert len(kinds) >= 8
    assert sum(k is SceneKind.TEXTURE for k in kinds.values()) >= 3
    assert sum(k is SceneKind.ALIGNED for k in kinds.values()) >= 3
    assert sum(k is SceneKind.OBJECTS for k in kinds.values()) >= 1
    assert {SPECS[c].size_class for c in WideCategory} == set(SizeClass)
    assert (min(r[0] for r in AREA_RANGES.values()), max(r[1] for r in AREA_RANGES.values())) == WIDE_AREA_RANGE
    assert WIDE_AREA_RANGE == (0.0002, 0.01)


def test_every_photo_ships_with_scikit_image_and_loads_without_pooch(monkeypatch):
    # Photos fetched with pooch need the network; the bundled ones sit next to skimage.data.
    files = {"immunohistochemistry": "ihc", "colorwheel": "color"}  # the rest are named as the function
    photos = {SPECS[c].photo for c in WideCategory if SPECS[c].kind is not SceneKind.OBJECTS}
    photos |= {SPECS[c].background.photo for c in WideCategory if SPECS[c].background is not None}
    photos |= {"coins"} | {part[0] for part in _TRAY_PARTS}
    for photo in photos:
        assert list(Path(skimage.data.__file__).parent.glob(f"{files.get(photo, photo)}.*")), photo
    monkeypatch.setitem(sys.modules, "pooch", None)  # any attempt to download now fails
    for category in WideCategory:
        frame = WideScene.load(category, 128).render(np.random.default_rng(0))
        assert frame.shape == (128, 128, 3) and frame.dtype == np.uint8


@pytest.mark.parametrize("category", list(WideCategory))
def test_frames_are_deterministic_and_vary(scenes, category):
    scene = scenes[category]
    a, b = scene.render(np.random.default_rng(3)), scene.render(np.random.default_rng(3))
    c = scene.render(np.random.default_rng(4))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert 5 < a.mean() < 250 and a.std() > 5  # an image, not a flat field


def test_aligned_and_object_scenes_barely_move_while_textures_do(scenes):
    def correlation(category):
        a = scenes[category].render(np.random.default_rng(0)).astype(float).ravel()
        b = scenes[category].render(np.random.default_rng(1)).astype(float).ravel()
        return np.corrcoef(a, b)[0, 1]

    for category in WideCategory:
        if SPECS[category].kind is SceneKind.TEXTURE:
            assert correlation(category) < 0.6, category
        else:
            assert correlation(category) > 0.8, category


@pytest.mark.parametrize(("category", "kind"), PAIRS)
def test_mask_is_exactly_the_changed_pixels_and_in_range(scenes, category, kind):
    scene = scenes[category]
    low, high = kind_area_range(SPECS[category], kind)
    assert SPECS[category].area_range[0] <= low < high <= SPECS[category].area_range[1]
    for seed in range(2):
        rng = np.random.default_rng([seed, 11])
        plan = scene.plan(rng)
        # an independent render of the same frame: the defect must change exactly the mask
        clean = scene.render(np.random.default_rng([seed, 11]))
        sample = apply_wide_defect(scene, plan, kind, rng)
        assert sample.image.shape == clean.shape and sample.image.dtype == np.uint8
        assert set(np.unique(sample.mask)) == {0, 255}
        change = np.abs(sample.image.astype(np.int16) - clean).max(axis=2)
        assert np.array_equal(sample.mask > 0, change > 0)
        assert low <= sample.area_fraction <= high
        assert WIDE_AREA_RANGE[0] <= sample.area_fraction <= WIDE_AREA_RANGE[1]
        inside = change[sample.mask > 0]
        assert inside.min() >= MIN_CHANGE and inside.mean() >= MIN_MEAN_CHANGE
        ys, xs = np.nonzero(sample.mask)
        assert sample.box_xyxy == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def test_small_defects_are_small_at_full_size():
    # 0.02 % of a 512 frame is 52 pixels: a speck or a short crack, not a blob.
    scene = WideScene.load(WideCategory.TISSUE, 512)
    for kind in (WideDefectKind.SPOTS, WideDefectKind.CRACK):
        rng = np.random.default_rng(5)
        sample = apply_wide_defect(scene, scene.plan(rng), kind, rng)
        assert 52 <= np.count_nonzero(sample.mask) <= 0.001 * 512 * 512


def test_cracks_and_fibres_are_thin(scenes):
    scene = WideScene.load(WideCategory.CAT, 512)
    for kind in (WideDefectKind.CRACK, WideDefectKind.FIBRE):
        rng = np.random.default_rng(2)
        mask = apply_wide_defect(scene, scene.plan(rng), kind, rng).mask
        # eroding by a 5x5 square removes a line up to 4 px wide (1-2 px at 512, plus anti-aliasing)
        assert np.count_nonzero(cv2.erode(mask, np.ones((5, 5), np.uint8))) <= 0.02 * np.count_nonzero(mask)


@pytest.mark.parametrize("category", [WideCategory.COINS, WideCategory.TRAY])
@pytest.mark.parametrize("kind", [WideDefectKind.MISPLACED, WideDefectKind.MISSING])
def test_object_defects_stay_around_one_object(scenes, category, kind):
    scene = scenes[category]
    pitch = SIZE / round(len(scene.slots) ** 0.5)
    for seed in range(4):
        rng = np.random.default_rng([seed, 3])
        plan = scene.plan(rng)
        sample = apply_wide_defect(scene, plan, kind, rng)
        ys, xs = np.nonzero(sample.mask)
        # never wider than one slot of the grid (objects are at least a slot apart)
        assert ys.max() - ys.min() < pitch and xs.max() - xs.min() < pitch


def test_same_generator_same_defect(scenes):
    scene = scenes[WideCategory.COINS]
    plan = scene.plan(np.random.default_rng(0))
    a = apply_wide_defect(scene, plan, WideDefectKind.MISPLACED, np.random.default_rng(7))
    b = apply_wide_defect(scene, plan, WideDefectKind.MISPLACED, np.random.default_rng(7))
    c = apply_wide_defect(scene, plan, WideDefectKind.MISPLACED, np.random.default_rng(8))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    assert not np.array_equal(a.mask, c.mask)


def test_textures_have_no_misplacement(scenes):
    assert WideDefectKind.MISPLACED not in SPECS[WideCategory.GRASS].defect_kinds
    scene = scenes[WideCategory.GRASS]
    plan = scene.plan(np.random.default_rng(0))
    with pytest.raises(ValueError, match="misplaced"):
        apply_wide_defect(scene, plan, WideDefectKind.MISPLACED, np.random.default_rng(0))
