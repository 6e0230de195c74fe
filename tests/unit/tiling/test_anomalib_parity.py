"""Cross-check against anomalib's Tiler on the same arrays, where its rules match ours."""

import numpy as np
import pytest

from edgekit.tiling import TileGrid, tile, untile

torch = pytest.importorskip("torch")
tiler_mod = pytest.importorskip("anomalib.data.utils.tiler")


@pytest.mark.parametrize(("image", "tile_size", "stride"), [(512, 256, 128), (128, 64, 32), (96, 32, 32)])
def test_tile_order_and_untile_match_anomalib(image: int, tile_size: int, stride: int) -> None:
    rng = np.random.default_rng(0)
    frame = rng.random((image, image, 3), dtype=np.float32)
    grid = TileGrid(image, tile_size, stride)
    ours = tile(grid, frame)  # [N, T, T, 3]

    tiler = tiler_mod.Tiler(tile_size=tile_size, stride=stride)
    theirs = tiler.tile(torch.from_numpy(frame).permute(2, 0, 1)[None])  # [N, 3, T, T]
    assert np.array_equal(ours, theirs.permute(0, 2, 3, 1).numpy())

    # overlap-averaged join of arbitrary per-tile maps
    maps = rng.random((grid.n_tiles, tile_size, tile_size), dtype=np.float32)
    theirs_joined = tiler.untile(torch.from_numpy(maps)[:, None])[0, 0].numpy()
    assert np.allclose(untile(grid, maps), theirs_joined, atol=1e-6)
