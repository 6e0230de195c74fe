"""Write a short demo video that OpenCV reads back, with a codec fallback.

The demo video is lossless (FFV1 in ``.avi``): the runtime must see the frames the model was
trained on. Measured on the coffee demo: ``mp4v`` compression lifted a good frame's PaDiM score
from 143 to 324, above the validation threshold of 254, so every frame of an mp4v stream was
flagged. (``avc1``/H.264 is not available in opencv-python-headless here.) Every file is read back
after writing; if the frame count or size is wrong the next candidate is tried: ``mp4v`` in
``.mp4``, then Motion-JPEG in ``.avi``. FFmpeg-backed writers round the
frame sides down to even numbers, which is why the demo frame size must be even.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgekit.errors import DataError

logger = logging.getLogger(__name__)

# (fourcc, suffix), best first.
CANDIDATES: tuple[tuple[str, str], ...] = (("FFV1", ".avi"), ("mp4v", ".mp4"), ("MJPG", ".avi"))


@dataclass(frozen=True)
class VideoFile:
    """A written video.

    Attributes:
        path: The file.
        fourcc: The codec it was written with.
    """

    path: Path
    fourcc: str


def write_video(
    stem: Path,
    frames: Callable[[], Iterable[np.ndarray]],
    frame_count: int,
    fps: float,
    frame_hw: tuple[int, int],
) -> VideoFile:
    """Write ``frames`` to ``stem`` + the suffix of the first codec that round-trips.

    Args:
        stem: Path without suffix, e.g. ``out/coffee/stream``.
        frames: Called once per attempt; yields ``frame_count`` uint8 BGR frames of ``frame_hw``.
        frame_count: Number of frames ``frames`` yields.
        fps: Frame rate.
        frame_hw: (height, width) of every frame.

    Returns:
        The video file that reads back with the right frame count and size.

    Raises:
        DataError: If no codec produced a readable file.
    """
    height, width = frame_hw
    tried = []
    for fourcc, suffix in CANDIDATES:
        path = stem.with_suffix(suffix)
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), float(fps), (width, height))
        if not writer.isOpened():
            writer.release()
            tried.append(f"{fourcc}: cannot open writer")
            continue
        try:
            for frame in frames():
                writer.write(frame)
        finally:
            writer.release()
        problem = check_video(path, frame_count, frame_hw)
        if problem is None:
            return VideoFile(path, fourcc)
        tried.append(f"{fourcc}: {problem}")
        logger.warning(
            "video %s written with %s does not read back (%s); trying the next codec", path, fourcc, problem
        )
        path.unlink(missing_ok=True)
    msg = f"cannot write a readable video at {stem}.*: {'; '.join(tried)}; accepted codecs: {CANDIDATES}"
    raise DataError(msg)


def check_video(path: Path, frame_count: int, frame_hw: tuple[int, int]) -> str | None:
    """Read ``path`` back with OpenCV and compare frame count and size.

    Args:
        path: Video file.
        frame_count: Expected number of frames.
        frame_hw: Expected (height, width).

    Returns:
        None if it matches, else a short description of the mismatch.
    """
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            return "cannot open for reading"
        count = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if frame.shape[:2] != tuple(frame_hw):
                return f"frame {count} has size {frame.shape[:2]}, expected {tuple(frame_hw)}"
            count += 1
    finally:
        capture.release()
    if count != frame_count:
        return f"read {count} frames, expected {frame_count}"
    return None
