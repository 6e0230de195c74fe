"""Defects of the wide set, each with its exact mask, drawn within the category's area range.

The ground truth follows the demo's rule (:func:`edgekit.demo.defects.finalize`): the mask is the
set of pixels with ``alpha >= ALPHA_MIN``, every other pixel keeps its clean value, and every mask
pixel differs from it by at least ``MIN_CHANGE`` grey levels in some channel. So ``mask != 0`` is
exactly ``(image != clean).any(-1)``.

Region defects (marks are in :mod:`edgekit.demo.wide.marks`):

- ``colour_shift``: a soft blob whose chroma moves by 10-24 Lab units, lightness kept;
- ``missing``: a blob inpainted from its surroundings (Telea), or in object scenes a whole object
  gone (the surface shows);
- ``misplaced``: in aligned scenes a part of the view shifted by 3-8 px (at least 1.5) or turned by
  6-15 degrees; in object scenes one object shifted by 5-10 px, turned by 12-30 degrees, or swapped for
  another. Only pixels that visibly change (>= MIN_CHANGE, closed by one pixel) are the defect.

Each draw aims at an area drawn log-uniformly from the kind's range in the category; draws that
land outside it, or whose mean change is under ``MIN_MEAN_CHANGE``, are drawn again (the aim
follows the misses).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import cv2
import numpy as np

from edgekit.demo.defects import ALPHA_MIN, MIN_CHANGE, blob_coverage, coverage, draw_center, finalize
from edgekit.demo.scenes import SceneKind
from edgekit.demo.wide.catalog import WideDefectKind, kind_area_range
from edgekit.demo.wide.marks import crack, fibre, spots
from edgekit.demo.wide.plan import FramePlan
from edgekit.demo.wide.scenes import WideScene

# Least mean change over a mask (grey levels): subtle on purpose, still many times the sensor noise.
MIN_MEAN_CHANGE = 10
_MAX_DRAWS = 200
_ON_OBJECT = 0.6  # object scenes: share of defects centred on an object
_CLOSE = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))


@dataclass(frozen=True)
class WideDefect:
    """A frame of the wide set with one defect and its ground truth.

    Attributes:
        image: The defective frame, uint8 BGR (H, W, 3).
        mask: uint8 (H, W), 255 exactly where ``image`` differs from the clean frame, else 0.
        kind: The defect kind.
        box_xyxy: Bounding box of the mask, (x0, y0, x1, y1) with exclusive x1, y1.
    """

    image: np.ndarray
    mask: np.ndarray
    kind: WideDefectKind
    box_xyxy: tuple[int, int, int, int]

    @property
    def area_fraction(self) -> float:
        """Share of the frame covered by the mask."""
        return float(np.count_nonzero(self.mask)) / self.mask.size


@dataclass(frozen=True)
class _Canvas:
    scene: WideScene
    plan: FramePlan
    clean: np.ndarray  # uint8
    base: np.ndarray  # float32 copy of clean


def apply_wide_defect(
    scene: WideScene, plan: FramePlan, kind: WideDefectKind, rng: np.random.Generator
) -> WideDefect:
    """Paint the frame of ``plan`` with one defect of ``kind``.

    Args:
        scene: The category's scene.
        plan: The defect-free frame's choices (object defects change one of them).
        kind: Which defect.
        rng: Generator for every choice of the defect.

    Returns:
        The defective frame with its exact mask.

    Raises:
        ValueError: If ``kind`` is not made in this category.
        RuntimeError: If no draw lands in the area range and is visible (a bug in the ranges).
    """
    kind = WideDefectKind(kind)
    if kind not in scene.spec.defect_kinds:
        msg = f"defect {kind} is not made in {scene.category}; accepted: {[str(k) for k in scene.spec.defect_kinds]}"
        raise ValueError(msg)
    clean = scene.paint(plan)
    canvas = _Canvas(scene, plan, clean, clean.astype(np.float32))
    low, high = kind_area_range(scene.spec, kind)
    pixels = clean.shape[0] * clean.shape[1]
    # Only the visible part of a change counts, so on smooth photos a region defect covers less than
    # aimed at: the aim follows the draws that missed the range (deterministic, like every choice).
    boost = 1.0
    for _ in range(_MAX_DRAWS):
        aim = math.exp(rng.uniform(math.log(low), math.log(high))) * pixels * boost
        target, alpha = _PAINTERS[kind](canvas, _center(scene, plan, rng), aim, rng)
        region = alpha >= ALPHA_MIN
        ys, xs = np.nonzero(region)
        fraction = ys.size / pixels
        if not low <= fraction <= high:
            boost = min(boost * 1.5, 16.0) if fraction < low else max(boost / 1.5, 0.0625)
            continue
        box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        image = finalize(clean, _blend(canvas.base, target, alpha, box), region)
        change = np.abs(image[region].astype(np.int16) - clean[region]).max(axis=1)
        if change.mean() < MIN_MEAN_CHANGE:
            continue
        return WideDefect(image, region.astype(np.uint8) * 255, kind, box)
    msg = f"no visible {kind} defect in {scene.category} within area fraction {(low, high)} after {_MAX_DRAWS} draws"
    raise RuntimeError(msg)


def _blend(base: np.ndarray, target: np.ndarray, alpha: np.ndarray, box_xyxy: tuple[int, int, int, int]) -> np.ndarray:
    """``base + alpha * (target - base)``, computed only inside the box (alpha is zero outside)."""
    x0, y0, x1, y1 = box_xyxy
    out = base.copy()
    b, t, a = base[y0:y1, x0:x1], target[y0:y1, x0:x1], alpha[y0:y1, x0:x1, None]
    out[y0:y1, x0:x1] = b + a * (t - b)
    return out


def _center(scene: WideScene, plan: FramePlan, rng: np.random.Generator) -> tuple[float, float]:
    if scene.kind is SceneKind.OBJECTS and rng.random() < _ON_OBJECT:
        index = int(rng.integers(0, len(scene.slots)))
        cy, cx = scene.object_center(plan, index)
        r = 0.6 * scene.object_radius(index) * math.sqrt(rng.uniform(0, 1))
        a = rng.uniform(0, 2 * math.pi)
        return cy + r * math.sin(a), cx + r * math.cos(a)
    return draw_center((scene.size, scene.size), rng)


def _window(center_yx: tuple[float, float], half: int, frame_hw: tuple[int, int]) -> tuple[slice, slice]:
    y, x = int(center_yx[0]), int(center_yx[1])
    ys = slice(max(0, y - half), min(frame_hw[0], y + half + 1))
    return ys, slice(max(0, x - half), min(frame_hw[1], x + half + 1))


def _colour_shift(
    c: _Canvas, center_yx: tuple[float, float], area: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    radius = 1.2 * math.sqrt(area / math.pi)
    cover = blob_coverage(c.base, center_yx, radius, rng)
    alpha = np.minimum(cv2.GaussianBlur(cover, (0, 0), max(0.7, 0.2 * radius)) * np.float32(rng.uniform(0.85, 1.0)), 1)
    ys, xs = _window(center_yx, math.ceil(2.2 * radius) + 4, c.base.shape[:2])
    lab = cv2.cvtColor(c.base[ys, xs] / np.float32(255), cv2.COLOR_BGR2Lab)
    shift, angle = rng.uniform(10, 24), rng.uniform(0, 2 * math.pi)
    lab[..., 1] += np.float32(shift * math.cos(angle))
    lab[..., 2] += np.float32(shift * math.sin(angle))
    target = c.base.copy()
    target[ys, xs] = np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2BGR) * np.float32(255), 0, 255)
    return target, _visible(c, target, alpha, alpha >= ALPHA_MIN, (ys, xs))


def _missing(
    c: _Canvas, center_yx: tuple[float, float], area: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    if c.scene.kind is SceneKind.OBJECTS and rng.random() < 0.6:
        return _object_change(c, center_yx, rng, remove=True)
    radius = 1.2 * math.sqrt(area / math.pi)
    cover = blob_coverage(c.base, center_yx, radius, rng)
    ys, xs = _window(center_yx, math.ceil(2 * radius) + 8, c.base.shape[:2])
    hole = cv2.dilate((cover[ys, xs] > 0.02).astype(np.uint8) * 255, _CLOSE)
    target = c.base.copy()
    target[ys, xs] = cv2.inpaint(c.clean[ys, xs], hole, 3, cv2.INPAINT_TELEA)
    return target, _visible(c, target, cover, cover >= ALPHA_MIN, (ys, xs))


def _misplaced(
    c: _Canvas, center_yx: tuple[float, float], area: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    if c.scene.kind is SceneKind.OBJECTS:
        return _object_change(c, center_yx, rng, remove=False)
    # A part of the view (a rotated rectangle) moved: only its edges and detail visibly change.
    side = c.base.shape[0]
    radius = math.sqrt(area / math.pi) * rng.uniform(1.0, 2.2)
    half_wh = radius * np.array([1.0, rng.uniform(0.5, 1.0)])
    angle = rng.uniform(0, 180)
    corners = cv2.boxPoints(((center_yx[1], center_yx[0]), tuple(2 * half_wh), angle)).astype(np.float64)

    def draw(canvas: np.ndarray, to_px: Callable[[np.ndarray], np.ndarray]) -> None:
        cv2.fillPoly(canvas, [to_px(corners)], 255, cv2.LINE_AA)

    cover = coverage(c.base, center_yx, float(half_wh.max()) * 1.5 + 1, draw)
    ys, xs = _window(center_yx, math.ceil(1.5 * half_wh.max() + 12), c.base.shape[:2])
    if rng.random() < 0.5:
        d, a = max(1.5, rng.uniform(3.0, 8.0) * side / 512), rng.uniform(0, 2 * math.pi)
        matrix = np.array([[1.0, 0.0, d * math.cos(a)], [0.0, 1.0, d * math.sin(a)]])
    else:
        turn = float(rng.choice((-1, 1)) * rng.uniform(6, 15))
        matrix = cv2.getRotationMatrix2D((center_yx[1] - xs.start, center_yx[0] - ys.start), turn, 1.0)
    patch = c.base[ys, xs]
    moved = c.base.copy()
    moved[ys, xs] = cv2.warpAffine(
        patch, matrix, patch.shape[1::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )
    return moved, _visible(c, moved, cover, cover >= ALPHA_MIN, (ys, xs))


def _object_change(
    c: _Canvas, center_yx: tuple[float, float], rng: np.random.Generator, *, remove: bool
) -> tuple[np.ndarray, np.ndarray]:
    scene, plan = c.scene, c.plan
    centers = np.array([scene.object_center(plan, i) for i in range(len(scene.slots))])
    index = int(np.argmin(np.hypot(centers[:, 0] - center_yx[0], centers[:, 1] - center_yx[1])))
    pose = plan.poses[index]
    if remove:
        pose = replace(pose, present=False)
    else:
        mode = int(rng.integers(0, 3))
        if mode == 0:
            d, a = rng.uniform(5.0, 10.0) * scene.size / 512, rng.uniform(0, 2 * math.pi)
            pose = replace(pose, dy=pose.dy + d * math.sin(a), dx=pose.dx + d * math.cos(a))
        elif mode == 1:
            pose = replace(pose, angle=pose.angle + float(rng.choice((-1, 1)) * rng.uniform(12, 30)))
        else:
            others = [s for s in range(len(scene.sprites)) if s != pose.sprite]
            pose = replace(pose, sprite=int(rng.choice(others)))
    changed = replace(plan, poses=(*plan.poses[:index], pose, *plan.poses[index + 1 :]))
    moved = scene.paint(changed).astype(np.float32)
    where = scene.footprint(plan, index) | scene.footprint(changed, index)
    where = cv2.dilate(where.astype(np.uint8), _CLOSE) > 0
    rows, cols = np.nonzero(where.any(axis=1))[0], np.nonzero(where.any(axis=0))[0]
    window = slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)
    return moved, _visible(c, moved, np.ones(where.shape, np.float32), where, window)


def _visible(
    c: _Canvas, target: np.ndarray, cover: np.ndarray, within: np.ndarray, window: tuple[slice, slice]
) -> np.ndarray:
    """Alpha of the pixels the change makes visible (closed by one pixel), within ``within``.

    A change that would be under ``MIN_CHANGE`` (an inpainted patch that matches what was there, a
    shift across a flat area) is no defect: leaving it out keeps the mask free of pushed noise.
    ``within`` must be False outside ``window``.
    """
    base, cover_w = c.base[window], cover[window]
    blended = np.rint(base + cover_w[..., None] * (target[window] - base))
    seen = (np.abs(blended - base).max(axis=2) >= MIN_CHANGE).astype(np.uint8)
    seen = cv2.morphologyEx(seen, cv2.MORPH_CLOSE, _CLOSE) > 0
    alpha = np.zeros(cover.shape, np.float32)
    alpha[window] = np.where(seen & within[window], np.maximum(cover_w, ALPHA_MIN), 0)
    return alpha


_Painter = Callable[[_Canvas, tuple[float, float], float, np.random.Generator], tuple[np.ndarray, np.ndarray]]


def _mark(painter: Callable[..., tuple[np.ndarray, np.ndarray]]) -> _Painter:
    def paint(
        c: _Canvas, center_yx: tuple[float, float], area: float, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        return painter(c.base, center_yx, area, rng)

    return paint


_PAINTERS: dict[WideDefectKind, _Painter] = {
    WideDefectKind.CRACK: _mark(crack),
    WideDefectKind.MISSING: _missing,
    WideDefectKind.COLOUR_SHIFT: _colour_shift,
    WideDefectKind.SPOTS: _mark(spots),
    WideDefectKind.FIBRE: _mark(fibre),
    WideDefectKind.MISPLACED: _misplaced,
}
