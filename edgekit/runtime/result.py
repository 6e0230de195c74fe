"""What the runtime hands out per frame: a small frozen dataclass of numpy arrays and numbers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

STAGES = ("capture_wait", "prep", "infer", "post", "process", "e2e")


@dataclass(frozen=True)
class Box:
    """A connected region of the predicted mask.

    Attributes:
        x0: Left edge (inclusive), pixels.
        y0: Top edge (inclusive).
        x1: Right edge (exclusive).
        y1: Bottom edge (exclusive).
        area: Mask pixels in the region.
        score: Highest normalized map value inside the region (0..1).
    """

    x0: int
    y0: int
    x1: int
    y1: int
    area: int
    score: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"xyxy": [self.x0, self.y0, self.x1, self.y1], "area": self.area, "score": round(self.score, 4)}


@dataclass(frozen=True)
class FrameResult:
    """The result of one frame.

    Attributes:
        index: Frame index in the source (0-based, counting skipped frames too).
        timestamp: Source timestamp in seconds (capture clock for live sources, media time for files).
        score: Normalized anomaly score (0..1; the image threshold maps to 0.5).
        label: True where the frame is anomalous.
        anomaly_map: ``float32 [H, W]`` normalized map (0..1) at the grid's image size.
        mask: ``bool [H, W]`` predicted defect pixels.
        boxes: Connected regions of the mask.
        timings_ms: Milliseconds per stage (see :data:`STAGES`).
        source_hw: Size of the frame as it came from the source.
        stream: The name of the stream the frame came from (``--source NAME=SRC``; default its position).
        image: The frame at the grid's size (BGR), kept only when asked for (overlays).
    """

    index: int
    timestamp: float
    score: float
    label: bool
    anomaly_map: np.ndarray = field(repr=False)
    mask: np.ndarray = field(repr=False)
    boxes: tuple[Box, ...]
    timings_ms: dict[str, float]
    source_hw: tuple[int, int]
    stream: str = "0"
    image: np.ndarray | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        """The ``results.jsonl`` line of this frame (maps left out)."""
        return {
            "stream": self.stream,
            "index": self.index,
            "timestamp": round(self.timestamp, 6),
            "score": round(self.score, 5),
            "label": "anomalous" if self.label else "normal",
            "boxes": [b.to_dict() for b in self.boxes],
            "ms": {k: round(v, 3) for k, v in self.timings_ms.items()},
        }
