"""The whole-frame graph's join and seam smoothing are the tiling module's rules, as torch ops.

``edgekit.tiling`` (numpy) is the reference, itself cross-checked against anomalib's ``Tiler``;
the graph's ``Join`` and ``SeamSmoothing`` must give the same arrays, for snapped, overlapping and
non-square grids, uniform and taper weights.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.tiling import (
    JoinWeights,
    TileGrid,
    coverage_groups,
    coverage_z,
    fit_coverage_reference,
    smooth_seams,
    tile,
    untile,
)

torch = pytest.importorskip("torch")
from edgekit.train.graph import CoverageZ, Join, SeamSmoothing  # noqa: E402

GRIDS = [
    TileGrid(64, 32, 16),  # regular overlap
    TileGrid(70, 32, 16),  # last tile snapped to the border
    TileGrid((48, 80), (32, 32), (16, 24)),  # non-square frame, different strides
]


@pytest.mark.parametrize("grid", GRIDS, ids=str)
@pytest.mark.parametrize("weights", list(JoinWeights))
def test_join_equals_untile(grid: TileGrid, weights: JoinWeights) -> None:
    rng = np.random.default_rng(0)
    maps = rng.random((2, grid.n_tiles, *grid.tile_hw), dtype=np.float32) * 100  # two frames
    got = Join(grid, weights)(torch.from_numpy(maps)).numpy()
    assert got.shape == (2, 1, *grid.image_hw)
    for b in range(2):
        np.testing.assert_allclose(got[b, 0], untile(grid, maps[b], weights), rtol=1e-5, atol=1e-4)


def test_join_of_tiles_gives_the_frame_back() -> None:
    grid = TileGrid(70, 32, 16)
    frame = np.random.default_rng(1).random(grid.image_hw, dtype=np.float32)
    got = Join(grid, JoinWeights.TAPER)(torch.from_numpy(tile(grid, frame)[None])).numpy()[0, 0]
    np.testing.assert_allclose(got, frame, atol=1e-6)


@pytest.mark.parametrize("grid", GRIDS, ids=str)
def test_seam_smoothing_equals_the_numpy_rule(grid: TileGrid) -> None:
    joined = np.random.default_rng(2).random(grid.image_hw, dtype=np.float32) * 10
    got = SeamSmoothing(grid, 3, 1.5)(torch.from_numpy(joined)[None, None]).numpy()[0, 0]
    np.testing.assert_allclose(got, smooth_seams(grid, joined, 3, 1.5), atol=1e-5)
    assert not np.allclose(got, joined)  # it did something


@pytest.mark.parametrize(
    ("grid", "single"),
    [
        (TileGrid(512, 256, 128), False),
        (TileGrid((600, 800), 256, 128), False),  # ragged: a merged level
        (TileGrid((384, 640), (256, 256), (128, 192)), False),
        (TileGrid((384, 640), 256, 128), True),
    ],
    ids=str,
)
def test_coverage_z_graph_equals_the_numpy_rule_in_torch_and_openvino(grid: TileGrid, single: bool) -> None:
    ov = pytest.importorskip("openvino")
    rng = np.random.default_rng(3)
    maps = rng.gamma(2.0, 3.0, (3, 1, *grid.image_hw)).astype(np.float32)
    maps[1, 0, 200:204, 300:304] += 100.0  # one frame with a defect
    groups = coverage_groups(grid, single)
    maps[2] += 30.0  # one frame higher everywhere: only the reference term sees it
    reference = fit_coverage_reference(maps[:1, 0], groups)
    want = [coverage_z(m[0], groups, reference) for m in maps]
    module = CoverageZ(grid, single, reference)
    got = module(torch.from_numpy(maps)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5)
    alone = CoverageZ(grid, single)(torch.from_numpy(maps)).numpy()
    np.testing.assert_allclose(alone, [coverage_z(m[0], groups) for m in maps], rtol=1e-5)
    assert got[2] > alone[2] + 3
    model = ov.convert_model(
        module, example_input=torch.from_numpy(maps), input=[ov.PartialShape([-1, 1, *grid.image_hw])]
    )
    compiled = ov.Core().compile_model(model, "CPU")
    np.testing.assert_allclose(compiled(maps[:2])[0], want[:2], rtol=1e-5)  # another batch size
    assert got[1] > got[0] + 3


def test_downscaled_grid_exists_only_on_the_feature_grid() -> None:
    assert TileGrid(512, 256, 128).downscaled(8) == TileGrid(64, 32, 16)
    assert TileGrid(500, 256, 128).downscaled(8) is None  # snapped tile at 244: not a multiple of 8
    big = TileGrid((96, 160), 64, 32)
    small = big.downscaled(8)
    assert small is not None and small.boxes == tuple(tuple(v // 8 for v in b) for b in big.boxes)
