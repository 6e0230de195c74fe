import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekit.errors import ConfigError, DataError
from edgekit.tiling import (
    JoinWeights,
    ScoreRule,
    TileGrid,
    join_score,
    seam_mask,
    smooth_seams,
    tile,
    tile_views,
    tile_weights,
    untile,
)


@st.composite
def grids(draw: st.DrawFn) -> TileGrid:
    h = draw(st.integers(8, 96))
    w = draw(st.integers(8, 96))
    th = draw(st.integers(4, h))
    tw = draw(st.integers(4, w))
    sh = draw(st.integers(1, th))
    sw = draw(st.integers(1, tw))
    return TileGrid((h, w), (th, tw), (sh, sw))


@settings(max_examples=150, deadline=None)
@given(grid=grids(), seed=st.integers(0, 2**16), channels=st.sampled_from([None, 1, 3]))
def test_untile_of_tile_is_identity(grid: TileGrid, seed: int, channels: int | None) -> None:
    rng = np.random.default_rng(seed)
    shape = grid.image_hw if channels is None else (*grid.image_hw, channels)
    frame = rng.integers(0, 256, size=shape, dtype=np.uint8)
    tiles = tile(grid, frame)
    assert tiles.shape == (grid.n_tiles, *grid.tile_hw, *frame.shape[2:])
    assert np.array_equal(untile(grid, tiles), frame)


@settings(max_examples=150, deadline=None)
@given(grid=grids())
def test_every_pixel_covered_and_tiles_inside(grid: TileGrid) -> None:
    h, w = grid.image_hw
    assert grid.coverage.min() >= 1
    for y0, x0, y1, x1 in grid.boxes:
        assert 0 <= y0 < y1 <= h
        assert 0 <= x0 < x1 <= w
        assert (y1 - y0, x1 - x0) == grid.tile_hw
    # the last tile of each axis is flush with the border: no padding is ever needed
    assert grid.row_starts[-1] == h - grid.tile_hw[0]
    assert grid.col_starts[-1] == w - grid.tile_hw[1]
    assert len(grid.boxes) == grid.n_tiles == grid.grid_hw[0] * grid.grid_hw[1]


@settings(max_examples=50, deadline=None)
@given(grid=grids())
def test_json_round_trip(grid: TileGrid) -> None:
    again = TileGrid.from_dict(json.loads(json.dumps(grid.to_dict())))
    assert again == grid
    assert again.boxes == grid.boxes


def test_default_grid_is_3x3_row_major() -> None:
    grid = TileGrid(512, 256, 128)
    assert grid.grid_hw == (3, 3)
    assert grid.is_regular
    assert grid.boxes[1] == (0, 128, 256, 384)
    assert grid.boxes[3] == (128, 0, 384, 256)


def test_snapped_last_tile_instead_of_padding() -> None:
    grid = TileGrid(500, 256, 160)
    assert grid.row_starts == (0, 160, 244)
    assert not grid.is_regular


def test_tile_views_share_memory_and_tile_copies_once() -> None:
    grid = TileGrid((64, 96), 32, 16)
    frame = np.arange(64 * 96 * 3, dtype=np.uint8).reshape(64, 96, 3)
    views = tile_views(grid, frame)
    assert all(np.shares_memory(v, frame) for v in views)
    out = np.empty((grid.n_tiles, 32, 32, 3), dtype=np.uint8)
    assert tile(grid, frame, out=out) is out
    assert not np.shares_memory(out, frame)
    assert np.array_equal(out[4], views[4])


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"image_hw": 256, "tile_hw": 300, "stride_hw": 100}, "tile_hw (300, 300) is larger than image_hw"),
        ({"image_hw": 512, "tile_hw": 256, "stride_hw": 300}, "stride_hw (300, 300) is larger than tile_hw"),
        ({"image_hw": 0, "tile_hw": 1}, "image_hw must be positive, got (0, 0)"),
        ({"image_hw": (1, 2, 3), "tile_hw": 1}, "image_hw must be an int or a (height, width) pair"),
        ({"image_hw": 64, "tile_hw": True}, "tile_hw must be an int"),
    ],
)
def test_invalid_grids_name_the_value(kwargs: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=None) as info:
        TileGrid(**kwargs)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_from_dict_missing_keys() -> None:
    with pytest.raises(ConfigError, match="lacks"):
        TileGrid.from_dict({"image_hw": [4, 4]})


def test_wrong_frame_and_map_shapes_are_data_errors() -> None:
    grid = TileGrid(64, 32, 16)
    with pytest.raises(DataError, match=r"frame of shape \(60, 64, 3\)"):
        tile(grid, np.zeros((60, 64, 3), np.uint8))
    with pytest.raises(DataError, match="expects"):
        untile(grid, np.zeros((4, 32, 32), np.float32))
    with pytest.raises(DataError, match="buffer"):
        tile(grid, np.zeros((64, 64, 3), np.uint8), out=np.zeros((9, 32, 32, 3), np.float32))


def test_untile_averages_overlaps() -> None:
    grid = TileGrid((8, 12), (8, 8), (8, 4))  # two tiles overlapping on columns 4..7
    maps = np.stack([np.full((8, 8), 1.0), np.full((8, 8), 3.0)]).astype(np.float32)
    joined = untile(grid, maps)
    assert np.all(joined[:, :4] == 1.0)
    assert np.all(joined[:, 4:8] == 2.0)
    assert np.all(joined[:, 8:] == 3.0)


def test_untile_accepts_nchw_and_low_resolution_maps() -> None:
    grid = TileGrid(64, 32, 16)
    maps = np.ones((grid.n_tiles, 1, 8, 8), np.float32) * 5
    joined = untile(grid, maps)
    assert joined.shape == (64, 64)
    assert np.allclose(joined, 5.0)


def test_score_rules_max_keeps_a_single_tile_defect() -> None:
    grid = TileGrid(64, 32, 32)
    maps = np.zeros((4, 32, 32), np.float32)
    maps[2, 10, 10] = 8.0
    joined = untile(grid, maps)
    assert join_score(joined, maps) == 8.0
    assert join_score(joined, maps, ScoreRule.MEAN_OF_TILE_MAX) == 2.0
    with pytest.raises(ConfigError, match="needs the tile maps"):
        join_score(joined, None, "mean_of_tile_max")


def test_seam_smoothing_touches_only_the_seam_band() -> None:
    grid = TileGrid(64, 32, 32)
    maps = np.stack([np.full((32, 32), v, np.float32) for v in (0.0, 1.0, 2.0, 3.0)])
    joined = untile(grid, maps)
    smoothed = smooth_seams(grid, joined, width=3, sigma=2.0)
    band = seam_mask(grid, 3)
    assert band[30:34, :].all() and band[:, 30:34].all()
    assert not band[0:29, 0:29].any()
    assert np.array_equal(smoothed[~band], joined[~band])
    # across the vertical seam the step of 1.0 is softened
    assert 0.0 < smoothed[10, 31] < 1.0


@settings(max_examples=100, deadline=None)
@given(grid=grids(), seed=st.integers(0, 2**16))
def test_taper_join_is_exact_on_tiled_frames(grid: TileGrid, seed: int) -> None:
    frame = np.random.default_rng(seed).integers(0, 256, size=(*grid.image_hw, 3), dtype=np.uint8)
    assert np.array_equal(untile(grid, tile(grid, frame), "taper"), frame)
    weights, total = tile_weights(grid, JoinWeights.TAPER)
    assert weights.min() > 0 and total.min() > 0


def test_taper_cross_fades_across_the_overlap() -> None:
    grid = TileGrid((8, 12), (8, 8), (8, 4))  # two tiles overlapping on columns 4..7
    maps = np.stack([np.full((8, 8), 0.0), np.full((8, 8), 4.0)]).astype(np.float32)
    joined = untile(grid, maps, "taper")
    assert np.all(joined[:, :4] == 0.0) and np.all(joined[:, 8:] == 4.0)
    row = joined[0, 4:8]
    assert np.all(np.diff(row) > 0)  # a ramp, not the uniform join's step to 2.0
    assert np.allclose(row, [0.5, 1.5, 2.5, 3.5])


@pytest.mark.parametrize(
    ("text", "expected"),
    [("512", 512), (" 256 ", 256), ("2448x2048", (2048, 2448)), ("640X480", (480, 640)), (96, 96)],
)
def test_sizes_are_n_or_width_by_height(text, expected) -> None:
    from edgekit.tiling import parse_size, size_text

    assert parse_size(text) == expected
    hw = (expected, expected) if isinstance(expected, int) else expected
    assert parse_size(size_text(hw)) == expected


@pytest.mark.parametrize("text", ["", "x", "512x", "1x2x3", "-4", "0", "0x10", "a by b", "12.5"])
def test_a_bad_size_is_one_line_naming_the_forms(text) -> None:
    from edgekit.errors import ConfigError
    from edgekit.tiling import parse_size

    with pytest.raises(ConfigError) as info:
        parse_size(text, "--image-size")
    message = str(info.value)
    assert "\n" not in message and "--image-size" in message and repr(text) in message


def test_a_non_square_grid_covers_the_frame() -> None:
    grid = TileGrid((2048, 2448), 256, 128)  # a 5 MP sensor: 15 rows x 19 columns (the last one snapped)
    assert grid.grid_hw == (15, 19) and grid.n_tiles == 285
    assert tuple(grid.boxes[-1]) == (1792, 2192, 2048, 2448)
