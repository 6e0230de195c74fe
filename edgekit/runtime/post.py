"""From a joined raw map to score, label, mask and boxes, with the bundle's statistics."""

from __future__ import annotations

import cv2
import numpy as np

from edgekit.artifacts.record import Thresholds
from edgekit.runtime.result import Box


def normalize(value: np.ndarray | float, threshold: float, lo: float, hi: float) -> np.ndarray | float:
    """Anomalib's min-max normalization: the threshold maps to 0.5, clipped to [0, 1].

    Args:
        value: Raw score or map.
        threshold: Raw threshold.
        lo: Minimum seen in validation.
        hi: Maximum seen in validation.

    Returns:
        Normalized value(s).
    """
    span = hi - lo if hi > lo else 1.0
    return np.clip((np.asarray(value, dtype=np.float32) - threshold) / span + 0.5, 0.0, 1.0)


def boxes_of(mask: np.ndarray, norm_map: np.ndarray) -> tuple[Box, ...]:
    """Connected components (8-connected) of a mask as boxes, largest first.

    Args:
        mask: ``bool [H, W]``.
        norm_map: ``float32 [H, W]`` normalized map (for each box's peak score).

    Returns:
        The boxes.
    """
    if not mask.any():
        return ()
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    boxes = []
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        peak = float(norm_map[y : y + h, x : x + w][labels[y : y + h, x : x + w] == i].max())
        boxes.append(Box(x, y, x + w, y + h, area, peak))
    return tuple(sorted(boxes, key=lambda b: -b.area))


def postprocess(
    joined: np.ndarray, raw_score: float, t: Thresholds
) -> tuple[float, bool, np.ndarray, np.ndarray, tuple[Box, ...]]:
    """Normalize, threshold and find boxes.

    Args:
        joined: Raw joined map ``[H, W]``.
        raw_score: Raw frame score.
        t: The bundle's thresholds and statistics.

    Returns:
        Normalized score, label, normalized map, mask and boxes.
    """
    score = float(normalize(raw_score, t.image_threshold, t.image_min, t.image_max))
    norm_map = normalize(joined, t.pixel_threshold, t.pixel_min, t.pixel_max)
    mask = joined > t.pixel_threshold
    label = raw_score > t.image_threshold
    return score, bool(label), norm_map, mask, boxes_of(mask, norm_map) if label else ()
