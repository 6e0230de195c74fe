"""Tiling a frame into a batch and joining tile maps back into one frame (numpy only).

All functions are pure: the :class:`TileGrid` carries the geometry and nothing is remembered
between :func:`tile` and :func:`untile`.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
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

    ``MAX``: maximum of the joined full-frame map, so a defect that only one tile sees keeps its
    full strength. ``MEAN_OF_TILE_MAX``: mean of the per-tile maxima, anomalib's tiled ensemble rule,
    kept for parity; it dilutes a defect seen by one tile out of N. ``Z_COVERAGE``: the frame's
    pixels are grouped by how many tiles cover them (the join averages that many views, so a stride
    of half a tile leaves one model's noise in the corners and a four-view average in the centre);
    in each group the map's maximum is measured in MADs from the frame's own median there and from
    the median of good validation frames there (fitted at training), and the frame score is the
    largest of these (:func:`coverage_z`).
    """

    MAX = "max"
    MEAN_OF_TILE_MAX = "mean_of_tile_max"
    Z_COVERAGE = "z_coverage"


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


#: ``Z_COVERAGE`` takes each group's median and MAD on every ``step``-th pixel in both directions, the
#: step at least ``Z_STEP`` (the maps are upsampled from 1/8 resolution and blurred, so closer pixels
#: add little) and large enough that a group has at most about ``Z_SAMPLES`` of them: a graph's top-k
#: costs about 0.1 us per value on a CPU, so the statistics cost the same at 0.25 MP and at 5 MP.
Z_STEP = 8
Z_SAMPLES = 2048
#: A coverage level with fewer pixels than this joins the level nearest in coverage (its median and
#: MAD would rest on too few samples; ragged grids make thin strips covered 3, 6 or 9 times).
Z_MIN_PIXELS = 4096
#: MAD to standard deviation of a normal distribution.
MAD_SCALE = 1.4826
#: Added to the scaled MAD, so a flat group scores 0 instead of dividing by 0.
Z_EPS = 1e-6

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class CoverageGroup:
    """Pixels of one coverage level: the boxes it is made of and the step its statistics sample at."""

    boxes: tuple[Box, ...]
    step: int

    @property
    def area(self) -> int:
        """Pixels in the group."""
        return _area(self.boxes)

    @property
    def sub_boxes(self) -> tuple[Box, ...]:
        """The boxes in the map subsampled by ``step`` (``map[::step, ::step]``)."""
        return tuple(tuple(-(-v // self.step) for v in box) for box in self.boxes)  # type: ignore[misc]


def _runs(counts: np.ndarray) -> list[tuple[int, int, int]]:
    """``(start, end, value)`` of every run of equal values in a 1-D array."""
    edges = [0, *(np.flatnonzero(np.diff(counts)) + 1).tolist(), len(counts)]
    return [(a, b, int(counts[a])) for a, b in itertools.pairwise(edges)]


def _area(boxes: tuple[Box, ...] | list[Box]) -> int:
    return sum((y1 - y0) * (x1 - x0) for y0, x0, y1, x1 in boxes)


def _group(boxes: list[Box]) -> CoverageGroup:
    return CoverageGroup(tuple(sorted(boxes)), max(Z_STEP, math.ceil(math.sqrt(_area(boxes) / Z_SAMPLES))))


def coverage_groups(grid: TileGrid, single: bool = False) -> tuple[CoverageGroup, ...]:
    """The pixel groups of :attr:`ScoreRule.Z_COVERAGE`, one per coverage level, by ascending coverage.

    Coverage is a product of how many tile rows cover a row and tile columns a column, so each level
    is a union of the rectangles where both counts are constant. Levels under :data:`Z_MIN_PIXELS`
    pixels join the nearest level.

    Args:
        grid: The tile grid the map was joined on.
        single: One group for the whole frame (where every view of a pixel is the same value, as in
            a PaDiM ``features`` ensemble).

    Returns:
        The groups.
    """
    h, w = grid.image_hw
    if single:
        return (_group([(0, 0, h, w)]),)
    rows = np.zeros(h, dtype=np.int64)
    cols = np.zeros(w, dtype=np.int64)
    for y in grid.row_starts:
        rows[y : y + grid.tile_hw[0]] += 1
    for x in grid.col_starts:
        cols[x : x + grid.tile_hw[1]] += 1
    levels: dict[int, list[Box]] = {}
    for y0, y1, a in _runs(rows):
        for x0, x1, b in _runs(cols):
            levels.setdefault(a * b, []).append((y0, x0, y1, x1))
    area = {k: _area(boxes) for k, boxes in levels.items()}
    big = [k for k in sorted(levels) if area[k] >= Z_MIN_PIXELS] or [max(area, key=area.__getitem__)]
    merged: dict[int, list[Box]] = {k: [] for k in big}
    for k in sorted(levels):
        merged[min(big, key=lambda b: (abs(b - k), -area[b]))].extend(levels[k])
    return tuple(_group(merged[k]) for k in big)


def _lower_median(values: np.ndarray) -> np.float32:
    """The ``(n - 1) // 2``-th smallest value (the graph takes the same one with a top-k)."""
    k = (len(values) - 1) // 2
    return np.partition(values, k)[k]


Reference = tuple[tuple[float, float], ...]


def _sampled(m: np.ndarray, group: CoverageGroup) -> np.ndarray:
    sub = m[:: group.step, :: group.step]
    return np.concatenate([sub[a:c, b:d].ravel() for a, b, c, d in group.sub_boxes])


def fit_coverage_reference(maps: np.ndarray, groups: tuple[CoverageGroup, ...]) -> Reference:
    """The fitted part of :attr:`ScoreRule.Z_COVERAGE`: each group's median and MAD over good frames.

    Args:
        maps: ``[M, H, W]`` joined maps of good frames the model was not fitted on (validation).
        groups: :func:`coverage_groups` of their grid.

    Returns:
        ``(median, MAD)`` per group, of the group's sampled pixels pooled over all ``maps``.

    Raises:
        DataError: No maps.
    """
    if len(maps) == 0:
        msg = "score rule z_coverage needs at least one good validation frame to fit its reference, got 0"
        raise DataError(msg)
    out = []
    for group in groups:
        values = np.concatenate([_sampled(np.asarray(m, dtype=np.float32), group) for m in maps])
        med = _lower_median(values)
        out.append((float(med), float(_lower_median(np.abs(values - med)))))
    return tuple(out)


def coverage_z(joined: np.ndarray, groups: tuple[CoverageGroup, ...], reference: Reference | None = None) -> float:
    """:attr:`ScoreRule.Z_COVERAGE` of one joined map.

    Per group, the group's maximum over all its pixels is measured twice, in units of 1.4826 x a MAD
    (+1e-6): from the frame's own median, with the frame's own MAD (both the lower middle value, over
    the group's pixels on its every-``step``-th-pixel grid), and from the reference's median, with the
    reference's MAD (:func:`fit_coverage_reference`). The score is the largest of these over the groups.
    The first term compares each group with its own noise in this frame; the second keeps a frame that
    is anomalous everywhere (a dark, blurred or foreign frame, whose own median is high) anomalous.

    Args:
        joined: ``[H, W]`` joined map.
        groups: :func:`coverage_groups` of its grid.
        reference: The fitted reference; None scores the frame-relative term alone (used only while the
            reference is being fitted).

    Returns:
        The score as a Python float.
    """
    m = np.asarray(joined, dtype=np.float32).reshape(joined.shape[-2:])
    scale, eps = np.float32(MAD_SCALE), np.float32(Z_EPS)
    best = -np.inf
    for g, group in enumerate(groups):
        top = max(m[y0:y1, x0:x1].max() for y0, x0, y1, x1 in group.boxes)
        values = _sampled(m, group)
        med = _lower_median(values)
        mad = _lower_median(np.abs(values - med))
        best = max(best, float((top - med) / (scale * mad + eps)))
        if reference is not None:
            ref_med, ref_mad = (np.float32(v) for v in reference[g])
            best = max(best, float((top - ref_med) / (scale * ref_mad + eps)))
    return best


def join_score(
    joined: np.ndarray,
    tiles: np.ndarray | None = None,
    rule: ScoreRule = ScoreRule.MAX,
    groups: tuple[CoverageGroup, ...] | None = None,
    reference: Reference | None = None,
) -> float:
    """A frame's anomaly score from its joined map (or its tile maps).

    Args:
        joined: The joined full-frame map.
        tiles: The tile maps ``[N, ...]``; needed for ``MEAN_OF_TILE_MAX``.
        rule: The score rule.
        groups: :func:`coverage_groups` of the grid; needed for ``Z_COVERAGE``.
        reference: :func:`fit_coverage_reference` of the run, for ``Z_COVERAGE``.

    Returns:
        The score as a Python float.
    """
    rule = ScoreRule(rule)
    if rule is ScoreRule.MAX:
        return float(np.max(joined))
    if rule is ScoreRule.Z_COVERAGE:
        if groups is None:
            msg = "score rule 'z_coverage' needs the grid's coverage groups, got groups=None"
            raise ConfigError(msg)
        return coverage_z(joined, groups, reference)
    if tiles is None:
        msg = "score rule 'mean_of_tile_max' needs the tile maps, got tiles=None"
        raise ConfigError(msg)
    tiles = np.asarray(tiles)
    return float(np.mean(tiles.reshape(tiles.shape[0], -1).max(axis=1)))
