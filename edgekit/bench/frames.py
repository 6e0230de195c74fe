"""The frames every benchmark mode measures: decoded once in the parent, stored for the workers.

The source (video file, image folder, camera or stream) is read once through the runtime's own
:class:`~edgekit.runtime.sources.Capture`, so the bench accepts exactly what ``edgekit run`` accepts
and refuses the rest with the same one-line errors. A short file source is looped until the bench
has ``count`` frames. Each frame is brought to the grid's size once (the runtime's
:class:`~edgekit.runtime.frames.FramePrep`), then stored twice, holding identical pixels:

* ``frames.npy``: ``uint8 [count, H, W, 3]`` BGR, what the pre-decoded modes read into memory;
* ``clip.avi`` (lossless FFV1, checked to read back bit-exact; a PNG folder ``clip/`` where the
  codec is missing or not exact): what the streaming runtime mode decodes, as it would a camera's
  recording.
"""

from __future__ import annotations

import logging
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgekit.errors import DataError
from edgekit.runtime.frames import FramePrep
from edgekit.runtime.sources import Capture, SourceKind

logger = logging.getLogger(__name__)

ARRAY_NAME = "frames.npy"
CLIP_NAME = "clip.avi"
CLIP_FOLDER = "clip"


@dataclass(frozen=True)
class StoredFrames:
    """The frames of one bench, on disk.

    Attributes:
        array: ``frames.npy``, ``uint8 [count, H, W, 3]`` BGR at the grid's size.
        clip: The same frames as a lossless video (or PNG folder) for the streaming mode.
        count: Frames stored (warm-up and measured).
        source: The source string.
        source_kind: ``video``, ``folder``, ``camera`` or ``stream``.
        source_frames: Distinct frames read from the source (fewer than ``count`` when it was looped).
        source_hw: Size of the source's first frame.
        decode_ms: Median milliseconds per frame read from the source (for a live source this includes
            waiting for the next frame).
        clip_decode_ms: Median milliseconds per frame decoding the stored clip.
    """

    array: Path
    clip: Path
    count: int
    source: str
    source_kind: str
    source_frames: int
    source_hw: tuple[int, int]
    decode_ms: float
    clip_decode_ms: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "array": str(self.array),
            "clip": str(self.clip),
            "count": self.count,
            "source": self.source,
            "source_kind": self.source_kind,
            "source_frames": self.source_frames,
            "source_hw": list(self.source_hw),
            "decode_ms": round(self.decode_ms, 3),
            "clip_decode_ms": round(self.clip_decode_ms, 3),
        }


def read_source(
    source: str, count: int, convert: Callable[[np.ndarray], np.ndarray] | None = None
) -> tuple[list[np.ndarray], SourceKind, tuple[int, int], float]:
    """Read up to ``count`` frames from a source with the runtime's capture.

    Args:
        source: The ``--source`` value.
        count: Frames wanted.
        convert: Applied to each frame as it arrives (so large source frames are not all kept).

    Returns:
        The (converted) frames, the source's kind, the size of its first frame, and the median
        milliseconds per frame read (each read timed from the end of the previous one).

    Raises:
        DataError: An unknown or unopenable source, or one that gave no frame.
    """
    capture = Capture(source, max_frames=count, queue_size=max(8, count))
    frames: list[np.ndarray] = []
    source_hw = (0, 0)
    stamps = [time.perf_counter_ns()]
    capture.start()
    while (frame := capture.queue.get()) is not None:
        if not frames:
            source_hw = tuple(frame.image.shape[:2])
        frames.append(convert(frame.image) if convert is not None else frame.image)
        stamps.append(frame.captured_ns)
    capture.join()
    if capture.error is not None:
        raise capture.error
    if not frames:
        msg = f"source {source!r} gave no frame (unreadable or empty); accepted: a video file OpenCV can decode, "
        msg += "an image folder, a camera index or a stream URL"
        raise DataError(msg)
    decode_ms = statistics.median(np.diff(stamps) / 1e6)
    return frames, capture.kind, source_hw, float(decode_ms)


def _write_avi(path: Path, frames: np.ndarray) -> bool:
    """Write FFV1; False where the codec is missing."""
    h, w = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), 10.0, (w, h))
    if not writer.isOpened():
        return False
    for frame in frames:
        writer.write(frame)
    writer.release()
    return True


def _decode_clip(clip: Path, frames: np.ndarray) -> float | None:
    """Decode the clip once; median ms per frame, or None unless it holds exactly ``frames``."""
    times: list[float] = []
    if clip.is_dir():
        files = sorted(clip.glob("*.png"))
        if len(files) != len(frames):
            return None
        for path, expected in zip(files, frames, strict=True):
            t0 = time.perf_counter_ns()
            image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            times.append((time.perf_counter_ns() - t0) / 1e6)
            if image is None or not np.array_equal(image, expected):
                return None
        return statistics.median(times)
    cap = cv2.VideoCapture(str(clip))
    try:
        for expected in frames:
            t0 = time.perf_counter_ns()
            ok, image = cap.read()
            times.append((time.perf_counter_ns() - t0) / 1e6)
            if not ok or not np.array_equal(image, expected):
                return None
        ok, _ = cap.read()
        return None if ok else statistics.median(times)
    finally:
        cap.release()


def write_clip(folder: Path, frames: np.ndarray) -> tuple[Path, float]:
    """Store frames as a lossless clip the runtime can stream; return it and its decode ms per frame.

    FFV1 in ``.avi`` first (a video file, like a recording); a PNG folder where FFV1 is missing or
    does not read back bit-exact, so the streaming mode always sees the pre-decoded modes' pixels.
    """
    avi = folder / CLIP_NAME
    if _write_avi(avi, frames) and (ms := _decode_clip(avi, frames)) is not None:
        return avi, ms
    logger.warning("FFV1 video %s missing or not lossless here; storing the frames as PNG files instead", avi)
    avi.unlink(missing_ok=True)
    png = folder / CLIP_FOLDER
    png.mkdir()
    width = len(str(len(frames)))
    for i, frame in enumerate(frames):
        if not cv2.imwrite(str(png / f"{i:0{width}d}.png"), frame):
            msg = f"cannot write {png}; accepted: a writable --work folder"
            raise DataError(msg)
    ms = _decode_clip(png, frames)
    if ms is None:  # PNG is lossless: reaching this is a broken disk or OpenCV build
        msg = f"the PNG frames in {png} do not read back as written"
        raise DataError(msg)
    return png, ms


def store_frames(source: str, image_hw: tuple[int, int], count: int, folder: Path) -> StoredFrames:
    """Read a source once and store ``count`` frames at the grid's size for every mode.

    Args:
        source: The ``--source`` value.
        image_hw: The bundle grid's image size.
        count: Frames to store (warm-up + measured); a file source shorter than this is looped.
        folder: Where to write them (its previous frames are replaced).

    Returns:
        What was stored.

    Raises:
        DataError: An unusable source.
    """
    # the runtime's own conversion and resize, applied as frames arrive
    distinct, kind, source_hw, decode_ms = read_source(source, count, FramePrep(image_hw))
    frames = np.stack([distinct[i % len(distinct)] for i in range(count)])
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    array = folder / ARRAY_NAME
    np.save(array, frames)
    clip, clip_ms = write_clip(folder, frames)
    return StoredFrames(
        array=array,
        clip=clip,
        count=count,
        source=str(source),
        source_kind=str(kind),
        source_frames=len(distinct),
        source_hw=source_hw,
        decode_ms=decode_ms,
        clip_decode_ms=clip_ms,
    )


class MemoryVideo:
    """A ``cv2.VideoCapture`` stand-in that plays frames already in memory, once.

    The runtime's :class:`~edgekit.runtime.sources.Capture` accepts any such opener: fed this, the
    full runtime (capture thread, prep, async inference, boxes, ordering) runs without decoding.

    Args:
        frames: ``uint8 [N, H, W, 3]`` frames.
        fps: Media rate for the timestamps.
    """

    def __init__(self, frames: np.ndarray, fps: float = 10.0) -> None:
        self.frames = frames
        self.fps = fps
        self.i = 0

    def isOpened(self) -> bool:
        """Always open."""
        return True

    def read(self) -> tuple[bool, np.ndarray | None]:
        """The next frame (a view, no copy), or ``(False, None)`` at the end."""
        if self.i >= len(self.frames):
            return False, None
        frame = self.frames[self.i]
        self.i += 1
        return True, frame

    def get(self, prop: int) -> float:
        """Frame count and media time, as OpenCV reports them."""
        if prop == cv2.CAP_PROP_FRAME_COUNT:
            return float(len(self.frames))
        if prop == cv2.CAP_PROP_POS_MSEC:
            return (self.i - 1) * 1000.0 / self.fps
        return 0.0

    def release(self) -> None:
        """Nothing to release."""
