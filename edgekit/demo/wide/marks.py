"""Thin marks painted onto a frame: cracks, fibres and specks of contamination.

Each painter takes the clean frame (float32 BGR), a centre, the defect area to aim at in pixels and
a generator, and returns a *target* (what a fully affected pixel looks like) and an *alpha*
(0..1 coverage), as :mod:`edgekit.demo.defects` does. Widths are given at a 512 frame and scale
with it; the area decides the length (or the number and size of specks).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np

from edgekit.demo.defects import SUPERSAMPLE, coverage, local_mean

Point = np.ndarray  # (2,) x, y


def crack(
    frame: np.ndarray, center_yx: tuple[float, float], area: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A thin (1-2 px at 512) crooked crack, sometimes branched, darker than the surface.

    Args:
        frame: The clean frame, float32 BGR.
        center_yx: Where the crack passes, pixels.
        area: Area to aim at, pixels.
        rng: Generator for the shape and tone.

    Returns:
        (target, alpha).
    """
    side = frame.shape[0]
    width = max(1.0, float(rng.choice((1.0, 1.5, 2.0))) * side / 512)
    length = area / (width + 1.0)  # anti-aliased edges add about a pixel to the width
    step = max(1.5, 3.0 * side / 512)
    center = np.array([center_yx[1], center_yx[0]])
    paths = _crooked(center, length, step, rng)
    reach = max(float(np.abs(p - center).max()) for p in paths) + width + 2
    thickness = max(1, round(width * SUPERSAMPLE))

    def draw(canvas: np.ndarray, to_px: Callable[[np.ndarray], np.ndarray]) -> None:
        cv2.polylines(canvas, [to_px(p) for p in paths], False, 255, thickness, cv2.LINE_AA)

    alpha = coverage(frame, center_yx, reach, draw) * np.float32(rng.uniform(0.75, 0.95))
    if local_mean(frame, center_yx, max(4.0, length / 4)).mean() > 70:
        target = frame * np.float32(rng.uniform(0.3, 0.6))  # a shadowed gap
    else:
        target = frame * np.float32(0.5) + np.float32(rng.uniform(90, 140))  # a bright fracture on a dark surface
    return target, alpha


def fibre(
    frame: np.ndarray, center_yx: tuple[float, float], area: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A long, thin (1 px at 512), smoothly curved, translucent hair or fibre.

    Args:
        frame: The clean frame, float32 BGR.
        center_yx: Middle of the fibre, pixels.
        area: Area to aim at, pixels.
        rng: Generator for the shape and colour.

    Returns:
        (target, alpha).
    """
    side = frame.shape[0]
    width = max(1.0, side / 512)
    length = area / (width + 1.2)
    angle = rng.uniform(0, math.pi)
    direction = np.array([math.cos(angle), math.sin(angle)])
    normal = np.array([-direction[1], direction[0]])
    center = np.array([center_yx[1], center_yx[0]])
    p0, p3 = center - direction * length / 2, center + direction * length / 2
    p1 = center - direction * length / 6 + normal * rng.uniform(-0.4, 0.4) * length
    p2 = center + direction * length / 6 + normal * rng.uniform(-0.4, 0.4) * length
    t = np.linspace(0, 1, max(16, round(length / 2)))[:, None]
    curve = (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t**2 * p2 + t**3 * p3
    arc = float(np.linalg.norm(np.diff(curve, axis=0), axis=1).sum())
    curve = center + (curve - center) * (length / max(arc, 1e-6))  # the curve's length, not its chord
    reach = float(np.abs(curve - center).max()) + width + 2
    thickness = max(1, round(width * SUPERSAMPLE))

    def draw(canvas: np.ndarray, to_px: Callable[[np.ndarray], np.ndarray]) -> None:
        cv2.polylines(canvas, [to_px(curve)], False, 255, thickness, cv2.LINE_AA)

    alpha = coverage(frame, center_yx, reach, draw) * np.float32(rng.uniform(0.55, 0.85))
    if local_mean(frame, center_yx, max(4.0, length / 4)).mean() > 110:
        tone = rng.uniform(20, 60) * rng.uniform(0.85, 1.15, 3)  # dark hair
    else:
        tone = rng.uniform(190, 240) * rng.uniform(0.92, 1.05, 3)  # light lint
    return np.broadcast_to(np.clip(tone, 0, 255).astype(np.float32), frame.shape), alpha


def spots(
    frame: np.ndarray, center_yx: tuple[float, float], area: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Contamination: one to eight small specks, dark on bright surfaces and bright on dark ones.

    Args:
        frame: The clean frame, float32 BGR.
        center_yx: Middle of the cluster, pixels.
        area: Area to aim at, pixels (all specks together).
        rng: Generator for the number, size, place and tone.

    Returns:
        (target, alpha).
    """
    count = int(rng.integers(1, 9))
    radius = max(0.6, math.sqrt(area / count / math.pi) - 0.3)
    radii = radius * rng.uniform(0.7, 1.3, count)
    spread = max(3.0, 1.5 * math.sqrt(area))
    distance = spread * np.sqrt(rng.uniform(0, 1, count))
    angle = rng.uniform(0, 2 * math.pi, count)
    centers = np.stack(
        [center_yx[1] + distance * np.cos(angle), center_yx[0] + distance * np.sin(angle)], axis=1
    )

    def draw(canvas: np.ndarray, to_px: Callable[[np.ndarray], np.ndarray]) -> None:
        for c, r in zip(to_px(centers), radii, strict=True):
            cv2.circle(canvas, (int(c[0]), int(c[1])), max(1, round(r * SUPERSAMPLE)), 255, -1, cv2.LINE_AA)

    alpha = coverage(frame, center_yx, spread + radii.max() + 2, draw) * np.float32(rng.uniform(0.65, 0.95))
    if local_mean(frame, center_yx, spread + 2).mean() > 80:
        target = frame * np.float32(rng.uniform(0.15, 0.4))  # dirt
    else:
        target = frame * np.float32(0.3) + np.float32(rng.uniform(160, 220))  # dust catching the light
    return target, alpha


def _crooked(center: Point, length: float, step: float, rng: np.random.Generator) -> list[np.ndarray]:
    """A crooked line through ``center`` of about ``length`` pixels, with up to two branches."""
    trunk_length = length if rng.random() < 0.4 else length * rng.uniform(0.65, 0.85)
    heading = rng.uniform(0, 2 * math.pi)
    half = max(1, round(trunk_length / 2 / step))
    forward = _walk(center, heading, half, step, rng)
    backward = _walk(center, heading + math.pi, half, step, rng)
    trunk = np.concatenate([backward[::-1], forward[1:]])
    paths = [trunk]
    rest = length - 2 * half * step
    for _ in range(2):
        steps = round(min(rest, rest * rng.uniform(0.5, 1.0)) / step)
        if steps < 2:
            break
        i = int(rng.integers(1, len(trunk) - 1))
        local = math.atan2(*(trunk[i + 1] - trunk[i - 1])[::-1])
        branch_heading = local + rng.choice((-1, 1)) * rng.uniform(0.4, 1.0)
        paths.append(_walk(trunk[i], branch_heading, steps, step, rng))
        rest -= steps * step
    return paths


def _walk(start: Point, heading: float, steps: int, step: float, rng: np.random.Generator) -> np.ndarray:
    headings = heading + np.cumsum(rng.normal(0, 0.35, steps))
    moves = step * np.stack([np.cos(headings), np.sin(headings)], axis=1)
    return np.vstack([start, start + np.cumsum(moves, axis=0)])
