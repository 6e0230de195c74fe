"""Tiling a frame into a batch and joining tile maps back into one frame (numpy only).

All functions are pure: the :class:`TileGrid` carries the geometry and nothing is remembered
between :func:`tile` and :func:`untile`.
"""

from __future__ import annotations

import functools
from enum import StrEnum

import numpy as np

from edgekit.errors import ConfigError, DataError
from edgekit.tiling.grid import TileGrid


class JoinWeights(StrEnum):
    """How overlapping tiles are weighted when joined.

    ``UNIFORM``: plain average of the covering tiles (anomalib's ``Tiler.untile``). ``TAPER``: each
    tile's weight ramps linearly from its centre down to zero at every edge that lies inside the
    frame (edges on the frame border keep full weight), across the overlap with its neighbour, so
    neighbouring tiles cross-fade instead of meeting in a step. Tile models see less context at their
    edges (padding in the trunk) and score there differently; the taper hides that seam.
    """

    UNIFORM = "uniform"
    TAPER = "taper"


class JoinOrder(StrEnum):
    """Where in a head the tile maps are joined.

    ``FRAME`` (default where the model allows it): each position's raw map is joined at feature
    resolution, then the joined frame map is upsampled and blurred once. ``TILE``: anomalib's order,
    every tile map is upsampled to the tile size and blurred on its own, then the tiles are joined.
    ``FRAME`` needs a model whose map is one feature-resolution map followed by upsampling and blur
    (PaDiM, PatchCore) and tile starts on the feature grid; otherwise ``TILE`` is used.
    """

    FRAME = "frame"
    TILE = "tile"


class ScoreRule(StrEnum):
    """How a frame's anomaly score is taken from its tiles.

    ``MAX`` (default): maximum of the joined full-frame map, so a defect that only one tile sees
    keeps its full strength. ``MEAN_OF_TILE_MAX``: mean of the per-tile maxima, anomalib's tiled
    ensemble rule, kept for parity; it dilutes a defect seen by one tile out of N.
    """

    MAX = "max"
    MEAN_OF_TILE_MAX = "mean_of_tile_max"


def _check_frame(grid: TileGrid, frame: np.ndarray) -> None:
    if frame.ndim not in (2, 3) or frame.shape[:2] != grid.image_hw:
        msg = (
            f"frame of shape {frame.shape} does not match the grid's image_hw {grid.image_hw}: "
            f"expected ({grid.image_hw[0]}, {grid.image_hw[1]}[, C])"
        )
        raise DataError(msg)


def tile_views(grid: TileGrid, frame: np.ndarray) -> list[np.ndarray]:
    """Views of every tile of ``frame``, row-major; no pixel is copied.

    Args:
        grid: The tile grid.
        frame: ``[H, W]`` or ``[H, W, C]`` array with ``(H, W) == grid.image_hw``.

    Returns:
        ``N`` views of shape ``[T_h, T_w(, C)]``.
    """
    _check_frame(grid, frame)
    return [frame[y0:y1, x0:x1] for y0, x0, y1, x1 in grid.boxes]


def tile(grid: TileGrid, frame: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Cut a frame into the contiguous tile batch ``[N, T_h, T_w(, C)]``.

    Each pixel is copied once, straight into ``out`` when given (for example an inference
    request's input tensor), so steady-state tiling allocates nothing.

    Args:
        grid: The tile grid.
        frame: ``[H, W]`` or ``[H, W, C]`` array with ``(H, W) == grid.image_hw``.
        out: Optional destination of shape ``[N, T_h, T_w(, C)]`` and the frame's dtype.

    Returns:
        The tile batch (``out`` itself when given).

    Raises:
        DataError: If the frame or ``out`` has the wrong shape or dtype.
    """
    _check_frame(grid, frame)
    shape = (grid.n_tiles, *grid.tile_hw, *frame.shape[2:])
    if out is None:
        out = np.empty(shape, dtype=frame.dtype)
    elif out.shape != shape or out.dtype != frame.dtype:
        msg = f"tile output buffer is {out.dtype}{list(out.shape)}, expected {frame.dtype}{list(shape)}"
        raise DataError(msg)
    for i, (y0, x0, y1, x1) in enumerate(grid.boxes):
        out[i] = frame[y0:y1, x0:x1]
    return out


def _resize_tiles(tiles: np.ndarray, tile_hw: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of ``[N, t_h, t_w(, C)]`` maps to the grid's tile size."""
    import cv2  # local: only needed when the map resolution differs from the tile size

    th, tw = tile_hw
    return np.stack([cv2.resize(t, (tw, th), interpolation=cv2.INTER_LINEAR) for t in tiles])


def _axis_taper(starts: tuple[int, ...], tile: int, size: int) -> list[np.ndarray]:
    """Per-tile 1-D weights along one axis: linear ramps over the overlaps at interior edges."""
    out = []
    i = np.arange(tile, dtype=np.float64) + 0.5
    for k, s in enumerate(starts):
        w = np.ones(tile, dtype=np.float64)
        if s > 0:
            overlap = starts[k - 1] + tile - s
            w = np.minimum(w, i / max(overlap, 1))
        if s + tile < size:
            overlap = s + tile - starts[k + 1]
            w = np.minimum(w, (tile - i) / max(overlap, 1))
        out.append(w)
    return out


@functools.lru_cache(maxsize=32)
def tile_weights(grid: TileGrid, weights: JoinWeights = JoinWeights.UNIFORM) -> tuple[np.ndarray, np.ndarray]:
    """Per-tile weights ``[N, T_h, T_w]`` and their per-pixel sum ``[H, W]`` (cached, read-only).

    Args:
        grid: The tile grid.
        weights: The weighting rule.

    Returns:
        The weights and their sum over the tiles covering each pixel (always > 0).
    """
    th, tw = grid.tile_hw
    if JoinWeights(weights) is JoinWeights.UNIFORM:
        per_tile = np.ones((grid.n_tiles, th, tw), dtype=np.float64)
    else:
        wy = _axis_taper(grid.row_starts, th, grid.image_hw[0])
        wx = _axis_taper(grid.col_starts, tw, grid.image_hw[1])
        per_tile = np.stack([np.outer(y, x) for y in wy for x in wx])
    total = np.zeros(grid.image_hw, dtype=np.float64)
    for w, (y0, x0, y1, x1) in zip(per_tile, grid.boxes, strict=True):
        total[y0:y1, x0:x1] += w
    per_tile.setflags(write=False)
    total.setflags(write=False)
    return per_tile, total


def untile(grid: TileGrid, tiles: np.ndarray, weights: JoinWeights | str = JoinWeights.UNIFORM) -> np.ndarray:
    """Join per-tile maps into one full-frame map by overlap-weighted averaging.

    Every pixel becomes the weighted mean of the tiles that cover it (see :class:`JoinWeights`).
    Maps at another resolution than the tile (feature-map resolution, for instance) are first
    resized bilinearly to the tile size.

    Args:
        grid: The tile grid the maps came from.
        tiles: ``[N, t_h, t_w]``, ``[N, 1, t_h, t_w]`` (NCHW maps) or ``[N, t_h, t_w, C]``.
        weights: ``uniform`` (plain mean) or ``taper`` (cross-fade across overlaps).

    Returns:
        ``float32 [H, W]`` (or ``[H, W, C]``) at ``grid.image_hw``. Integer inputs come back
        exactly: ``untile(grid, tile(grid, x)) == x``.

    Raises:
        DataError: If the number of tiles does not match the grid.
    """
    tiles = np.asarray(tiles)
    if tiles.ndim == 4 and tiles.shape[1] == 1 and tiles.shape[-1] != 1:
        tiles = tiles[:, 0]
    if tiles.ndim not in (3, 4) or tiles.shape[0] != grid.n_tiles:
        msg = (
            f"cannot untile an array of shape {tiles.shape}: the grid {grid} expects "
            f"[{grid.n_tiles}, h, w], [{grid.n_tiles}, 1, h, w] or [{grid.n_tiles}, h, w, C]"
        )
        raise DataError(msg)
    if tiles.shape[1:3] != grid.tile_hw:
        tiles = _resize_tiles(tiles.astype(np.float32, copy=False), grid.tile_hw)
    acc = np.zeros((*grid.image_hw, *tiles.shape[3:]), dtype=np.float64)
    if JoinWeights(weights) is JoinWeights.UNIFORM:
        for t, (y0, x0, y1, x1) in zip(tiles, grid.boxes, strict=True):
            acc[y0:y1, x0:x1] += t
        coverage = grid.coverage if acc.ndim == 2 else grid.coverage[..., None]
        return (acc / coverage).astype(np.float32)
    per_tile, total = tile_weights(grid, JoinWeights(weights))
    for t, w, (y0, x0, y1, x1) in zip(tiles, per_tile, grid.boxes, strict=True):
        acc[y0:y1, x0:x1] += t * (w if t.ndim == 2 else w[..., None])
    return (acc / (total if acc.ndim == 2 else total[..., None])).astype(np.float32)


def seam_mask(grid: TileGrid, width: int) -> np.ndarray:
    """Pixels within ``width`` of an interior tile edge (an edge that is not the frame border).

    Args:
        grid: The tile grid.
        width: Half-width of the band around each seam, in pixels (>= 1).

    Returns:
        ``bool [H, W]`` mask.
    """
    if width < 1:
        msg = f"seam width must be >= 1 pixel, got {width}"
        raise ConfigError(msg)
    h, w = grid.image_hw
    mask = np.zeros((h, w), dtype=bool)
    edges_y = {e for y0, _, y1, _ in grid.boxes for e in (y0, y1) if 0 < e < h}
    edges_x = {e for _, x0, _, x1 in grid.boxes for e in (x0, x1) if 0 < e < w}
    for e in edges_y:
        mask[max(0, e - width) : e + width, :] = True
    for e in edges_x:
        mask[:, max(0, e - width) : e + width] = True
    return mask


def smooth_seams(grid: TileGrid, joined: np.ndarray, width: int = 4, sigma: float = 2.0) -> np.ndarray:
    """Blur a joined map in a band around the tile seams, leaving the rest untouched.

    Independent tile models may disagree slightly at a tile edge; the blur hides the step
    without softening the map elsewhere (anomalib's ``SeamSmoothing`` does the same).

    Args:
        grid: The tile grid the map was joined on.
        joined: ``float32 [H, W]`` joined map.
        width: Half-width of the smoothed band, in pixels.
        sigma: Standard deviation of the Gaussian blur, in pixels.

    Returns:
        A new ``float32 [H, W]`` map.
    """
    import cv2

    if sigma <= 0:
        msg = f"seam smoothing sigma must be > 0, got {sigma}"
        raise ConfigError(msg)
    blurred = cv2.GaussianBlur(joined.astype(np.float32, copy=False), (0, 0), sigmaX=sigma)
    return np.where(seam_mask(grid, width), blurred, joined).astype(np.float32)


def join_score(joined: np.ndarray, tiles: np.ndarray | None = None, rule: ScoreRule = ScoreRule.MAX) -> float:
    """A frame's anomaly score from its joined map (or its tile maps).

    Args:
        joined: The joined full-frame map.
        tiles: The tile maps ``[N, ...]``; needed for ``MEAN_OF_TILE_MAX``.
        rule: The score rule.

    Returns:
        The score as a Python float.
    """
    rule = ScoreRule(rule)
    if rule is ScoreRule.MAX:
        return float(np.max(joined))
    if tiles is None:
        msg = "score rule 'mean_of_tile_max' needs the tile maps, got tiles=None"
        raise ConfigError(msg)
    tiles = np.asarray(tiles)
    return float(np.mean(tiles.reshape(tiles.shape[0], -1).max(axis=1)))
