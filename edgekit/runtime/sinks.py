"""Where results go: ``results.jsonl`` (one complete line per frame, flushed as it completes) and overlays."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np

from edgekit.runtime.result import FrameResult


class JsonlSink:
    """Appends one JSON line per frame.

    Each line goes to the file in a single ``os.write`` on an ``O_APPEND`` descriptor, so a process
    killed at any moment (SIGKILL included) leaves only complete lines, one per finished frame.

    Args:
        path: The ``results.jsonl`` file (truncated on open).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        self.lines = 0

    def write(self, result: FrameResult) -> None:
        """Write the frame's line."""
        data = (json.dumps(result.to_json(), separators=(",", ":")) + "\n").encode()
        written = os.write(self._fd, data)
        while written < len(data):  # regular files write whole; this guards odd filesystems
            written += os.write(self._fd, data[written:])
        self.lines += 1

    def close(self) -> None:
        """Flush to disk and close."""
        if self._fd >= 0:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1


def overlay(frame_bgr: np.ndarray, result: FrameResult, alpha: float = 0.45) -> np.ndarray:
    """The frame with the anomaly map as a heat map and the boxes drawn on it.

    Args:
        frame_bgr: The frame at the grid's image size.
        result: Its result.
        alpha: Heat-map opacity.

    Returns:
        A new BGR image.
    """
    heat = cv2.applyColorMap((result.anomaly_map * 255).astype(np.uint8), cv2.COLORMAP_JET)
    image = cv2.addWeighted(frame_bgr, 1.0 - alpha, heat, alpha, 0.0)
    colour = (0, 0, 255) if result.label else (0, 200, 0)
    for box in result.boxes:
        cv2.rectangle(image, (box.x0, box.y0), (box.x1 - 1, box.y1 - 1), colour, 2)
    text = f"#{result.index} score {result.score:.2f} {'ANOMALY' if result.label else 'ok'}"
    cv2.putText(image, text, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, colour, 2, cv2.LINE_AA)
    return image


class OverlaySink:
    """Writes overlays: a PNG per anomalous frame (``overlays/frame_000042.png``, ``overlays/NAME/...`` per stream).

    Args:
        folder: The output folder.
        per_stream: One subfolder per stream name (several sources).
    """

    def __init__(self, folder: Path, *, per_stream: bool = False) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.per_stream = per_stream
        self.written = 0

    def write(self, frame_bgr: np.ndarray, result: FrameResult) -> None:
        """Write the frame's overlay if it is anomalous."""
        if result.label:
            folder = self.folder / result.stream if self.per_stream else self.folder
            folder.mkdir(exist_ok=True)
            cv2.imwrite(str(folder / f"frame_{result.index:06d}.png"), overlay(frame_bgr, result))
            self.written += 1
