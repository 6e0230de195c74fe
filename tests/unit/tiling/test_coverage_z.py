"""The ``z_coverage`` frame score: its pixel groups and its value (numpy, the reference the graph follows)."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.errors import ConfigError, DataError
from edgekit.tiling import ScoreRule, TileGrid, coverage_groups, coverage_z, fit_coverage_reference, join_score
from edgekit.tiling.ops import Z_MIN_PIXELS, Z_SAMPLES, Z_STEP

GRIDS = [
    TileGrid(512, 256, 128),  # the default 3x3: corners 1, edges 2, centre 4
    TileGrid((600, 800), 256, 128),  # ragged: snapped last tiles make levels 3, 6 and 9
    TileGrid((2048, 2448), 256, 128),  # 5 MP, 285 positions
    TileGrid((384, 640), (256, 256), (128, 192)),  # non-square frame, different strides
]


def _group_of(grid: TileGrid, groups: tuple) -> np.ndarray:
    where = np.full(grid.image_hw, -1)
    for g, group in enumerate(groups):
        for y0, x0, y1, x1 in group.boxes:
            assert (where[y0:y1, x0:x1] == -1).all(), "boxes overlap"
            where[y0:y1, x0:x1] = g
    return where


@pytest.mark.parametrize("grid", GRIDS, ids=str)
def test_groups_partition_the_frame_by_coverage(grid: TileGrid) -> None:
    groups = coverage_groups(grid)
    where = _group_of(grid, groups)
    assert (where >= 0).all()  # every pixel in exactly one group
    levels = [np.unique(grid.coverage[where == g]) for g in range(len(groups))]
    for g, level in enumerate(levels):
        assert (where == g).sum() >= Z_MIN_PIXELS
        if len(level) > 1:  # only a merged level mixes coverages, and only with its nearest neighbour
            small = [v for v in level if (grid.coverage == v).sum() < Z_MIN_PIXELS]
            assert len(level) - len(small) == 1
    # a level large enough is never split or mixed: its pixels are one group's
    for value in np.unique(grid.coverage):
        if (grid.coverage == value).sum() >= Z_MIN_PIXELS:
            assert len(np.unique(where[grid.coverage == value])) == 1


def test_default_grid_groups_are_corners_edges_centre() -> None:
    grid = TileGrid(512, 256, 128)
    corners, edges, centre = coverage_groups(grid)
    assert corners.boxes == ((0, 0, 128, 128), (0, 384, 128, 512), (384, 0, 512, 128), (384, 384, 512, 512))
    assert len(edges.boxes) == 4 and centre.boxes == ((128, 128, 384, 384),)
    assert [g.step for g in (corners, edges, centre)] == [8, 8, 8]  # 1024, 2048 and 1024 samples
    assert centre.sub_boxes == ((16, 16, 48, 48),)
    # a thin strip covered 9 times (600x800) joins the 6-times level instead of standing alone
    ragged = TileGrid((600, 800), 256, 128)
    assert (ragged.coverage == 9).sum() < Z_MIN_PIXELS
    assert len(coverage_groups(ragged)) == len(np.unique(ragged.coverage)) - 1


def test_single_group_is_the_whole_frame() -> None:
    (group,) = coverage_groups(TileGrid((384, 640), 256, 128), single=True)
    assert group.boxes == ((0, 0, 384, 640),) and group.area == 384 * 640


@pytest.mark.parametrize("grid", GRIDS, ids=str)
def test_groups_sample_at_most_about_z_samples_pixels(grid: TileGrid) -> None:
    for group in coverage_groups(grid):
        n = sum((c - a) * (d - b) for a, b, c, d in group.sub_boxes)
        assert group.step >= Z_STEP and n <= Z_SAMPLES * 1.1
        if group.step > Z_STEP:  # a coarser step only where the floor step would sample too many
            assert group.area / (group.step - 1) ** 2 > Z_SAMPLES


def test_z_is_the_maximum_in_mads_from_the_median() -> None:
    grid = TileGrid(512, 256, 256)  # 2x2, no overlap: one group
    (group,) = groups = coverage_groups(grid)
    step = group.step
    assert step == 12  # 262144 pixels: every 12th in each direction leaves 43 x 43 <= 2048 samples
    m = np.zeros((512, 512), np.float32)
    n = m[::step, ::step].size
    m[::step, ::step] = np.tile([1.0, 3.0], n)[:n].reshape(43, 43)  # the pixels median and MAD are taken on
    m[5, 5] = 10.0  # off the sampled grid: counts for the maximum only
    # 1849 values, 925 ones and 924 threes: median 1; deviations 0 (925) and 2 (924): MAD 0
    assert coverage_z(m, groups) == pytest.approx((10.0 - 1.0) / 1e-6, rel=1e-5)
    m[::step, ::step] = (np.arange(n) % 7).reshape(43, 43)  # 0..6 in near-equal parts: median 3, MAD 2
    assert coverage_z(m, groups) == pytest.approx((10.0 - 3.0) / (1.4826 * 2.0 + 1e-6), rel=1e-6)


def test_z_ignores_the_level_and_scale_of_a_frame() -> None:
    grid = TileGrid(512, 256, 128)
    groups = coverage_groups(grid)
    m = np.random.default_rng(0).gamma(2.0, size=(512, 512)).astype(np.float32)
    z = coverage_z(m, groups)
    assert coverage_z(3.0 * m + 40.0, groups) == pytest.approx(z, rel=1e-4)


def test_z_compares_each_group_with_its_own_noise() -> None:
    """Noisy corners (one view) with a high maximum do not outscore a defect in the quiet centre."""
    grid = TileGrid(512, 256, 128)
    groups = coverage_groups(grid)
    rng = np.random.default_rng(1)
    noise = rng.normal(10.0, 1.0, (512, 512)).astype(np.float32)
    noise[grid.coverage == 1] = rng.normal(10.0, 4.0, int((grid.coverage == 1).sum()))
    good = noise.copy()
    bad = noise.copy()
    bad[250:254, 250:254] += 12.0  # a small defect in the centre, lower than the corners' maximum
    assert bad.max() == good.max()  # the maximum cannot tell them apart
    assert coverage_z(bad, groups) > coverage_z(good, groups) + 3.0


def test_join_score_needs_the_groups_for_z() -> None:
    m = np.ones((512, 512), np.float32)
    with pytest.raises(ConfigError, match="needs the grid's coverage groups"):
        join_score(m, None, ScoreRule.Z_COVERAGE)
    assert join_score(m, None, ScoreRule.Z_COVERAGE, coverage_groups(TileGrid(512, 256, 128))) == 0.0  # flat


def test_reference_is_each_groups_median_and_mad_pooled_over_frames() -> None:
    grid = TileGrid(512, 256, 256)
    groups = coverage_groups(grid)
    (group,) = groups
    frames = np.zeros((2, 512, 512), np.float32)
    n = frames[0, :: group.step, :: group.step].size
    alternate = np.arange(n).reshape(43, 43) % 2 == 0
    frames[0, :: group.step, :: group.step] = np.where(alternate, 1.0, 3.0)
    frames[1, :: group.step, :: group.step] = np.where(alternate, 4.0, 8.0)
    # pooled 3698 values: 925 ones, 924 threes, 925 fours, 924 eights: the lower middle value is 3;
    # deviations 2, 0, 1 and 5 in those numbers: the lower middle deviation is 1
    assert fit_coverage_reference(frames, groups) == ((3.0, 1.0),)
    with pytest.raises(DataError, match="at least one good validation frame"):
        fit_coverage_reference(frames[:0], groups)


def test_reference_keeps_a_frame_anomalous_everywhere_anomalous() -> None:
    """A dark, blurred or foreign frame raises the whole map: its own median rises with it, the reference does not."""
    grid = TileGrid(512, 256, 128)
    groups = coverage_groups(grid)
    rng = np.random.default_rng(4)
    good = rng.normal(10.0, 1.0, (4, 512, 512)).astype(np.float32)
    reference = fit_coverage_reference(good, groups)
    everywhere = rng.normal(60.0, 1.0, (512, 512)).astype(np.float32)  # the whole map five times higher
    alone = coverage_z(everywhere, groups)  # the frame-relative term sees nothing unusual
    assert alone < 6.0
    assert coverage_z(everywhere, groups, reference) > 30.0
    # on a good frame the reference term is about the frame's own: the score hardly moves
    assert coverage_z(good[0], groups, reference) == pytest.approx(coverage_z(good[0], groups), rel=0.1)
    assert join_score(everywhere, None, ScoreRule.Z_COVERAGE, groups, reference) == coverage_z(
        everywhere, groups, reference
    )
