"""Object scenes of the wide set: sprites cut from bundled photos, their fixed layout, and the surface.

``coins``: sixteen coins cut from scikit-image's ``coins`` photo (circles measured by hand on the
303 x 384 photo), alternately bronze and silver, on a 4 x 4 grid at their own scale (at 512).
``tray``: nine 48 px (at 512) rounded squares cut from other bundled photos, on a 3 x 3 grid.

Sprites carry an anti-aliased alpha; a frame places each at its slot with its own small shift and
turn (:mod:`edgekit.demo.wide.scenes`), so a misplaced or missing object is a change of one pose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from edgekit.demo.scenes import read_photo
from edgekit.demo.wide.catalog import Background

_SUPERSAMPLE = 4

# (centre y, centre x, radius) of clean, whole coins on the coins photo, pixels.
_COINS_YXR = (
    (51, 155, 24), (51, 215, 24), (53, 276, 21), (55, 44, 22), (56, 100, 20), (119, 271, 26),
    (124, 45, 22), (124, 205, 21), (125, 336, 21), (126, 102, 20), (127, 154, 20), (193, 212, 25),
    (194, 274, 24), (195, 102, 23), (197, 44, 20), (198, 154, 21),
)  # fmt: skip
_BRONZE_BGR = (0.62, 0.86, 1.12)
_SILVER_BGR = (1.04, 1.0, 0.96)

# (photo, square crop y, x, side) of the nine tray parts.
_TRAY_PARTS = (
    ("coffee", 40, 190, 250),
    ("chelsea", 60, 130, 180),
    ("rocket", 90, 250, 160),
    ("colorwheel", 0, 0, 370),
    ("logo", 0, 0, 500),
    ("immunohistochemistry", 0, 0, 256),
    ("hubble_deep_field", 300, 300, 300),
    ("retina", 200, 200, 1000),
    ("astronaut", 0, 140, 240),
)
_TRAY_SIDE_AT_512 = 48


@dataclass(frozen=True, eq=False)
class Sprite:
    """An object cut from a photo.

    Attributes:
        image: float32 BGR (h, w, 3).
        alpha: float32 (h, w), 0..1: how much of each pixel the object covers.
    """

    image: np.ndarray
    alpha: np.ndarray


@dataclass(frozen=True)
class Slot:
    """Where an object sits in a defect-free frame.

    Attributes:
        center_yx: Centre in frame pixels.
        sprite: Index of the sprite that belongs there.
    """

    center_yx: tuple[float, float]
    sprite: int


def load_objects(name: str, size: int) -> tuple[tuple[Sprite, ...], tuple[Slot, ...]]:
    """The sprites and slots of an object scene, for ``size`` x ``size`` frames.

    Args:
        name: ``"coins"`` or ``"tray"``.
        size: Frame side, pixels.

    Returns:
        (sprites, slots); slot ``i`` holds sprite ``slots[i].sprite``.

    Raises:
        ValueError: If ``name`` is not an object scene.
    """
    if name == "coins":
        return _coins(size), _grid(size, 4)
    if name == "tray":
        return _tray(size), _grid(size, 3)
    msg = f"unknown object scene {name!r}; accepted: coins, tray"
    raise ValueError(msg)


def load_background(background: Background, side: int, size: int) -> np.ndarray:
    """The surface objects lie on: a low-contrast, tinted version of a bundled photo.

    Args:
        background: What the surface is made of.
        side: Side of the prepared surface, pixels (the frame plus a margin for jitter).
        size: Frame side, pixels (blur scales with it).

    Returns:
        float32 BGR (side, side, 3), read-only.
    """
    grey = read_photo(background.photo)[..., 1].astype(np.float32)
    grey = cv2.resize(grey, (side, side), interpolation=cv2.INTER_AREA if side < grey.shape[0] else cv2.INTER_CUBIC)
    if background.blur > 0:
        grey = cv2.GaussianBlur(grey, (0, 0), background.blur * size / 512)
    relative = (grey - grey.mean()) / max(float(grey.std()), 1.0)
    base = (1 + background.contrast * relative)[..., None] * np.array(background.tint_bgr, np.float32)
    base = np.clip(base, 0, 255).astype(np.float32)
    base.setflags(write=False)
    return base


def _grid(size: int, n: int) -> tuple[Slot, ...]:
    pitch = size / n
    return tuple(Slot(((r + 0.5) * pitch, (c + 0.5) * pitch), r * n + c) for r in range(n) for c in range(n))


def _coins(size: int) -> tuple[Sprite, ...]:
    photo = read_photo("coins")
    scale = size / 512
    sprites = []
    for i, (cy, cx, r) in enumerate(_COINS_YXR):
        half = r + 3
        crop = photo[cy - half : cy + half + 1, cx - half : cx + half + 1].astype(np.float32)
        crop = crop * np.array(_BRONZE_BGR if i % 2 else _SILVER_BGR, np.float32)
        side = max(5, round((2 * half + 1) * scale))
        image = cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
        radius = (r + 0.5) * side / (2 * half + 1)
        sprites.append(Sprite(_readonly(np.clip(image, 0, 255)), _readonly(_disc(side, radius))))
    return tuple(sprites)


def _tray(size: int) -> tuple[Sprite, ...]:
    side = max(7, round(_TRAY_SIDE_AT_512 * size / 512))
    alpha = _rounded_square(side, 0.22 * side)
    sprites = []
    for photo, y, x, s in _TRAY_PARTS:
        crop = read_photo(photo, crop_yxhw=(y, x, s, s))
        image = cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA).astype(np.float32)
        sprites.append(Sprite(_readonly(image), alpha))
    return tuple(sprites)


def _disc(side: int, radius: float) -> np.ndarray:
    canvas = np.zeros((side * _SUPERSAMPLE, side * _SUPERSAMPLE), np.uint8)
    center = round((side / 2) * _SUPERSAMPLE)
    cv2.circle(canvas, (center, center), round(radius * _SUPERSAMPLE), 255, -1, cv2.LINE_AA)
    return _downsample(canvas, side)


def _rounded_square(side: int, corner: float) -> np.ndarray:
    big = side * _SUPERSAMPLE
    c = max(1, round(corner * _SUPERSAMPLE))
    canvas = np.zeros((big, big), np.uint8)
    cv2.rectangle(canvas, (c, 0), (big - 1 - c, big - 1), 255, -1)
    cv2.rectangle(canvas, (0, c), (big - 1, big - 1 - c), 255, -1)
    for y in (c, big - 1 - c):
        for x in (c, big - 1 - c):
            cv2.circle(canvas, (x, y), c, 255, -1, cv2.LINE_AA)
    return _downsample(canvas, side)


def _downsample(canvas: np.ndarray, side: int) -> np.ndarray:
    alpha = cv2.resize(canvas, (side, side), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    return _readonly(alpha)


def _readonly(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array, dtype=np.float32)
    array.setflags(write=False)
    return array


def place(
    sprite: Sprite, center_yx: tuple[float, float], angle_deg: float, frame_hw: tuple[int, int]
) -> tuple[slice, slice, np.ndarray, np.ndarray] | None:
    """Warp a sprite to a centre and turn, clipped to the frame.

    Args:
        sprite: The object.
        center_yx: Where its centre goes, frame pixels.
        angle_deg: Turn, degrees counter-clockwise.
        frame_hw: (height, width) of the frame.

    Returns:
        ``(ys, xs, image, alpha)``: the frame window (two slices) and the warped sprite in it, or
        None if the object lies wholly outside the frame.
    """
    h, w = sprite.alpha.shape
    half = math.ceil(0.75 * max(h, w)) + 2
    y0, x0 = math.floor(center_yx[0]) - half, math.floor(center_yx[1]) - half
    window = 2 * half + 1
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle_deg, 1.0)
    matrix[0, 2] += center_yx[1] - x0 - (w - 1) / 2
    matrix[1, 2] += center_yx[0] - y0 - (h - 1) / 2
    stacked = np.dstack([sprite.image, sprite.alpha])
    warped = cv2.warpAffine(stacked, matrix, (window, window), flags=cv2.INTER_LINEAR, borderValue=0)
    fy0, fx0 = max(0, y0), max(0, x0)
    fy1, fx1 = min(frame_hw[0], y0 + window), min(frame_hw[1], x0 + window)
    if fy1 <= fy0 or fx1 <= fx0:
        return None
    part = warped[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]
    return slice(fy0, fy1), slice(fx0, fx1), part[..., :3], part[..., 3]
