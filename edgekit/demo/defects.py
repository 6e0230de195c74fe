"""Small synthetic defects painted onto real photographs, each with its exact mask.

Every defect is built the same way: a kind-specific *alpha* (how strongly each pixel is affected,
0..1, soft at the edges) and a *target* (what a fully affected pixel looks like) are blended onto
the clean frame. :func:`finalize` then makes the ground truth exact: the mask is the set of
pixels with ``alpha >= ALPHA_MIN``; every pixel outside it is restored to the clean value and
every pixel inside it differs from the clean value by at least ``MIN_CHANGE`` grey levels in some
channel. So ``mask != 0`` is exactly ``(image != clean).any(-1)``, and no mask pixel is invisible.

Sizes scale with the frame side, so the defect area fraction does not depend on ``--size``;
draws outside ``AREA_FRACTION_RANGE`` are redrawn from the same generator (still deterministic).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np

# Pixels with at least this alpha belong to the defect; the softer tail is cut back to clean.
ALPHA_MIN = 0.1
# Least change (grey levels, largest channel) of a mask pixel, so the mask is never invisible.
MIN_CHANGE = 8
# Least mean change (grey levels) over a defect's mask: defects must be visible, not noise.
MIN_MEAN_CHANGE = 20
# Accepted defect area as a fraction of the frame (0.05 % .. 0.8 %).
AREA_FRACTION_RANGE = (0.0005, 0.008)
_MAX_DRAWS = 100
SUPERSAMPLE = 4  # shapes are drawn at this many times the frame resolution, then averaged down
# Coffee, rust, oil, ink blue, green paint.
_STAIN_PALETTE_BGR = ((35, 75, 130), (30, 95, 190), (70, 60, 40), (140, 50, 60), (60, 150, 90))


class DefectKind(StrEnum):
    """The kinds of defect the demo data contains (also the ``test/<kind>`` folder names)."""

    SCRATCH = "scratch"
    STAIN = "stain"
    HOLE = "hole"
    PATCH = "patch"


@dataclass(frozen=True)
class DefectSample:
    """A frame with one defect and its ground truth.

    Attributes:
        image: The defective frame, uint8 BGR of shape (H, W, 3).
        mask: uint8 (H, W), 255 exactly where ``image`` differs from the clean frame, else 0.
        kind: The defect kind.
        box_xyxy: Bounding box of the mask, (x0, y0, x1, y1) with exclusive x1, y1.
    """

    image: np.ndarray
    mask: np.ndarray
    kind: DefectKind
    box_xyxy: tuple[int, int, int, int]

    @property
    def area_fraction(self) -> float:
        """Share of the frame covered by the mask."""
        return float(np.count_nonzero(self.mask)) / self.mask.size


def apply_defect(clean: np.ndarray, kind: DefectKind, rng: np.random.Generator) -> DefectSample:
    """Paint one defect of ``kind`` onto a copy of ``clean``.

    Args:
        clean: The defect-free frame, uint8 BGR (H, W, 3); it is not modified.
        kind: Which defect to paint.
        rng: Generator for every random choice (position, shape, colour).

    Returns:
        The defective frame with its exact mask.

    Raises:
        ValueError: If ``clean`` is not a uint8 (H, W, 3) array.
        RuntimeError: If no draw is inside ``AREA_FRACTION_RANGE`` and visible (a bug in the ranges).
    """
    if clean.dtype != np.uint8 or clean.ndim != 3 or clean.shape[2] != 3:
        msg = f"clean frame must be uint8 (H, W, 3); received {clean.dtype} {clean.shape}"
        raise ValueError(msg)
    painter = _PAINTERS[DefectKind(kind)]
    low, high = AREA_FRACTION_RANGE
    base = clean.astype(np.float32)
    for _ in range(_MAX_DRAWS):
        center_yx = draw_center(clean.shape[:2], rng)
        target, alpha = painter(base, center_yx, rng)
        region = alpha >= ALPHA_MIN
        fraction = np.count_nonzero(region) / region.size
        if not low <= fraction <= high:
            continue
        image = finalize(clean, base + alpha[..., None] * (target - base), region)
        change = np.abs(image[region].astype(np.int16) - clean[region]).max(axis=1)
        if change.mean() < MIN_MEAN_CHANGE:  # e.g. a stain the colour of the surface under it
            continue
        ys, xs = np.nonzero(region)
        box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        return DefectSample(image, region.astype(np.uint8) * 255, DefectKind(kind), box)
    msg = f"no visible {kind} defect within area fraction {AREA_FRACTION_RANGE} after {_MAX_DRAWS} draws"
    raise RuntimeError(msg)


def finalize(clean: np.ndarray, blended: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Keep the blend inside ``region`` only, with every pixel there changed by >= MIN_CHANGE.

    Args:
        clean: The defect-free frame, uint8 (H, W, 3).
        blended: The defect blended onto the frame, float (H, W, 3).
        region: bool (H, W), the defect's mask.

    Returns:
        uint8 (H, W, 3): ``clean`` outside ``region``; inside it the blend, weak pixels pushed on.
    """
    out = clean.copy()
    before = clean[region].astype(np.int16)
    after = np.clip(np.rint(blended[region]), 0, 255).astype(np.int16)
    weak = np.abs(after - before).max(axis=1) < MIN_CHANGE
    if weak.any():
        # Push weak pixels further the way the defect already goes; flip where there is no room.
        b = before[weak]
        up = (after[weak] - b).sum(axis=1) >= 0
        up = np.where(up, b.min(axis=1) <= 255 - MIN_CHANGE, b.max(axis=1) < MIN_CHANGE)
        step = np.where(up, MIN_CHANGE, -MIN_CHANGE)[:, None]
        after[weak] = np.clip(b + step, 0, 255)
    out[region] = after.astype(np.uint8)
    return out


def draw_center(frame_hw: tuple[int, int], rng: np.random.Generator) -> tuple[float, float]:
    """Pick a defect centre: anywhere, on a likely tile seam, or at a border.

    Args:
        frame_hw: (height, width) of the frame.
        rng: Generator for the choice.

    Returns:
        The centre (y, x) in pixels.
    """
    h, w = frame_hw
    y, x = rng.uniform(0, h), rng.uniform(0, w)
    mode = rng.choice(3, p=(0.5, 0.3, 0.2))
    if mode == 1:  # seams of 2x2 / 3x3 / 4x4 grids with or without overlap sit on quarters/thirds
        fraction = rng.choice((1 / 4, 1 / 3, 1 / 2, 2 / 3, 3 / 4))
        jitter = rng.normal(0, 0.01)
        if rng.random() < 0.5:
            y = (fraction + jitter) * h
        else:
            x = (fraction + jitter) * w
    elif mode == 2:
        edge = rng.uniform(0, 0.04)
        if rng.random() < 0.5:
            y = edge * h if rng.random() < 0.5 else (1 - edge) * h
        else:
            x = edge * w if rng.random() < 0.5 else (1 - edge) * w
    return float(y), float(x)


# Draws white shapes on a supersampled canvas; ``to_px`` maps frame (x, y) points onto it.
Draw = Callable[[np.ndarray, Callable[[np.ndarray], np.ndarray]], None]


def coverage(frame: np.ndarray, center_yx: tuple[float, float], extent: float, draw: Draw) -> np.ndarray:
    """Anti-aliased coverage (0..1, frame size) of shapes drawn at 4x within ``extent`` of the centre.

    Only the window around the centre is supersampled, so the cost does not grow with the frame.

    Args:
        frame: The frame (only its height and width are used).
        center_yx: Centre of the window, pixels.
        extent: Half side of the window, pixels.
        draw: Draws white shapes on the supersampled canvas through the point mapping it is given.

    Returns:
        float32 (H, W) coverage, zero outside the window.
    """
    h, w = frame.shape[:2]
    reach = math.ceil(extent) + 2
    y0, x0 = max(0, int(center_yx[0]) - reach), max(0, int(center_yx[1]) - reach)
    y1, x1 = min(h, int(center_yx[0]) + reach + 1), min(w, int(center_yx[1]) + reach + 1)
    out = np.zeros((h, w), np.float32)
    if y1 <= y0 or x1 <= x0:
        return out
    canvas = np.zeros(((y1 - y0) * SUPERSAMPLE, (x1 - x0) * SUPERSAMPLE), np.uint8)
    origin = np.array([x0, y0], np.float64)

    def to_px(xy: np.ndarray) -> np.ndarray:
        return np.rint((np.asarray(xy, np.float64) - origin) * SUPERSAMPLE).astype(np.int32)

    draw(canvas, to_px)
    small = cv2.resize(canvas, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    out[y0:y1, x0:x1] = small.astype(np.float32) / 255.0
    return out


def local_mean(frame: np.ndarray, center_yx: tuple[float, float], radius: float) -> np.ndarray:
    """Mean BGR colour of the frame around the centre.

    Args:
        frame: The frame, (H, W, 3).
        center_yx: Centre, pixels.
        radius: Half side of the square averaged over, pixels.

    Returns:
        The mean colour, (3,).
    """
    h, w = frame.shape[:2]
    y, x = int(np.clip(center_yx[0], 0, h - 1)), int(np.clip(center_yx[1], 0, w - 1))
    r = max(2, int(radius))
    return frame[max(0, y - r) : y + r + 1, max(0, x - r) : x + r + 1].reshape(-1, 3).mean(axis=0)


def _scratch(
    frame: np.ndarray, center_yx: tuple[float, float], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A thin curved line, bright on dark surfaces and dark on bright ones."""
    side = frame.shape[0]
    length = rng.uniform(0.1, 0.25) * side
    width = max(1.0, rng.uniform(1.5, 3.0) * side / 512)
    angle = rng.uniform(0, math.pi)
    direction = np.array([math.cos(angle), math.sin(angle)])
    normal = np.array([-direction[1], direction[0]])
    center = np.array([center_yx[1], center_yx[0]])
    p0, p2 = center - direction * length / 2, center + direction * length / 2
    p1 = center + normal * rng.uniform(-0.3, 0.3) * length
    t = np.linspace(0, 1, 48)[:, None]
    curve = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2

    thickness = max(1, round(width * SUPERSAMPLE))

    def draw(canvas: np.ndarray, to_px: Callable[[np.ndarray], np.ndarray]) -> None:
        cv2.polylines(canvas, [to_px(curve)], False, 255, thickness, cv2.LINE_AA)

    alpha = coverage(frame, center_yx, 0.85 * length + width, draw) * rng.uniform(0.75, 0.95)
    tone = 20.0 if local_mean(frame, center_yx, length / 2).mean() > 110 else 235.0
    return np.full_like(frame, tone), alpha


def blob_coverage(
    frame: np.ndarray, center_yx: tuple[float, float], radius: float, rng: np.random.Generator
) -> np.ndarray:
    """Coverage (0..1) of an irregular blob: a few overlapping ellipses around the centre.

    Args:
        frame: The frame (only its height and width are used).
        center_yx: Centre of the blob, pixels.
        radius: Typical radius, pixels; the blob stays within 1.7 radii of the centre.
        rng: Generator for the lobes.

    Returns:
        float32 (H, W) coverage.
    """
    lobes = []
    for i in range(int(rng.integers(2, 5))):
        offset = np.clip(rng.normal(0, 0.35 * radius, 2), -0.8 * radius, 0.8 * radius) if i else np.zeros(2)
        axes = radius * rng.uniform(0.45, 0.9, 2)
        lobes.append((np.array([center_yx[1], center_yx[0]]) + offset, axes, float(rng.uniform(0, 180))))

    def draw(canvas: np.ndarray, to_px: Callable[[np.ndarray], np.ndarray]) -> None:
        for center, axes, angle in lobes:
            (cx, cy), (ax, ay) = to_px(center), np.rint(axes * SUPERSAMPLE).astype(int)
            cv2.ellipse(canvas, (int(cx), int(cy)), (int(ax), int(ay)), angle, 0, 360, 255, -1)

    return coverage(frame, center_yx, 1.7 * radius, draw)


def _stain(
    frame: np.ndarray, center_yx: tuple[float, float], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A soft-edged translucent colour blob (coffee, rust, oil, ink)."""
    side = frame.shape[0]
    radius = rng.uniform(0.018, 0.04) * side
    cover = blob_coverage(frame, center_yx, radius, rng)
    sigma = max(0.8, 0.25 * radius)
    alpha = cv2.GaussianBlur(cover, (0, 0), sigma) * rng.uniform(0.7, 0.9)
    # A stain shows because its colour differs from the surface: pick among the palette colours
    # far from the local colour (the farthest one if none is far).
    palette = np.array(_STAIN_PALETTE_BGR, np.float32)
    distance = np.linalg.norm(palette - local_mean(frame, center_yx, radius), axis=1)
    far = np.flatnonzero(distance >= 90)
    colour = palette[rng.choice(far)] if far.size else palette[int(distance.argmax())]
    return np.broadcast_to(colour, frame.shape).astype(np.float32), np.minimum(alpha, 1.0)


def _hole(
    frame: np.ndarray, center_yx: tuple[float, float], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A dark pit with a lighter raised rim."""
    side = frame.shape[0]
    radius = rng.uniform(0.01, 0.024) * side
    inner = blob_coverage(frame, center_yx, radius, rng)
    rim_px = max(1, round(0.45 * radius))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * rim_px + 1, 2 * rim_px + 1))
    outer = cv2.GaussianBlur(cv2.dilate(inner, kernel), (0, 0), max(0.6, rim_px / 3))
    ring = np.clip(outer - inner, 0, 1)
    depth = rng.uniform(0.85, 0.97)
    alpha = np.maximum(inner * depth, ring * rng.uniform(0.5, 0.7))
    dark = np.full_like(frame, rng.uniform(5, 25))
    rim = np.clip(frame * 1.25 + 45, 0, 255)
    # Where the pit covers the pixel the target is dark; in the ring it is the lighter rim.
    share = np.divide(inner * depth, alpha, out=np.zeros_like(alpha), where=alpha > 0)[..., None]
    return share * dark + (1 - share) * rim, alpha


def _patch(
    frame: np.ndarray, center_yx: tuple[float, float], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Texture from elsewhere in the frame, turned and colour-shifted, in a polygon."""
    h, w = frame.shape[:2]
    radius = rng.uniform(0.02, 0.04) * h
    count = int(rng.integers(5, 9))
    angles = np.sort(rng.uniform(0, 2 * math.pi, count))
    reach = radius * rng.uniform(0.6, 1.0, count)
    polygon = np.stack([center_yx[1] + reach * np.cos(angles), center_yx[0] + reach * np.sin(angles)], axis=1)

    def draw(canvas: np.ndarray, to_px: Callable[[np.ndarray], np.ndarray]) -> None:
        cv2.fillPoly(canvas, [to_px(polygon)], 255, cv2.LINE_AA)

    alpha = cv2.GaussianBlur(coverage(frame, center_yx, radius + 1, draw), (0, 0), max(0.5, radius / 12))
    # Donor window: covers the feathered polygon, at least 3 radii away, rotated a quarter turn.
    r = math.ceil(1.4 * radius) + 2
    for _ in range(_MAX_DRAWS):
        dy, dx = rng.uniform(r, h - r), rng.uniform(r, w - r)
        if math.hypot(dy - center_yx[0], dx - center_yx[1]) >= 3 * radius:
            break
    donor = frame[int(dy) - r : int(dy) + r + 1, int(dx) - r : int(dx) + r + 1]
    donor = np.rot90(donor, int(rng.integers(1, 4)))
    gain = rng.uniform(1.35, 1.6) if rng.random() < 0.5 else rng.uniform(0.5, 0.7)
    donor = donor * np.float32(gain) + rng.uniform(-30, 30, 3).astype(np.float32)
    target = frame.copy()
    cy, cx = int(center_yx[0]), int(center_yx[1])
    y0, x0 = cy - r, cx - r
    ys, xs = slice(max(0, y0), min(h, cy + r + 1)), slice(max(0, x0), min(w, cx + r + 1))
    target[ys, xs] = donor[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0]
    return np.clip(target, 0, 255), alpha


_PAINTERS = {
    DefectKind.SCRATCH: _scratch,
    DefectKind.STAIN: _stain,
    DefectKind.HOLE: _hole,
    DefectKind.PATCH: _patch,
}
