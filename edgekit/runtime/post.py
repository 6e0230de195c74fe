"""Boxes from the model's mask: the one post-processing step the graph leaves to the runtime."""

from __future__ import annotations

import cv2
import numpy as np

from edgekit.runtime.result import Box


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
