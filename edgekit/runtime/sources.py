"""Frame sources: camera, device path, RTSP/HTTP stream, video file, image folder.

A capture thread reads the source and puts timestamped frames into a bounded queue. Live sources
(cameras, streams) must never fall behind the line: when the queue is full the oldest frame is
dropped and counted. Files and folders never drop: the reader waits for room. A live source that
stops is reopened with exponential backoff, a bounded number of times, each attempt counted. An
undecodable image or frame is skipped and counted; the stream goes on.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgekit.data import IMAGE_SUFFIXES
from edgekit.errors import DataError

logger = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".m4v", ".webm", ".mpg", ".mpeg", ".ts")
ACCEPTED = (
    "a camera index (0), a device path (/dev/video0), an rtsp:// or http(s):// URL, a video file or an image folder"
)


class SourceKind(StrEnum):
    """What a source string names."""

    CAMERA = "camera"
    STREAM = "stream"
    VIDEO = "video"
    FOLDER = "folder"

    @property
    def live(self) -> bool:
        """Live sources drop the oldest frame rather than fall behind, and reconnect when they stop."""
        return self in (SourceKind.CAMERA, SourceKind.STREAM)


@dataclass(frozen=True)
class Frame:
    """A captured frame.

    Attributes:
        index: Position in the source (skipped frames keep their index).
        timestamp: Source time in seconds (media time for files, wall clock for live sources).
        captured_ns: ``perf_counter_ns`` when the frame was read (for capture-to-result latency).
        image: The decoded frame as the source gave it.
    """

    index: int
    timestamp: float
    captured_ns: int
    image: np.ndarray = field(repr=False)


@dataclass
class SourceStats:
    """Counters of a capture thread (written by it, read after it stops).

    Attributes:
        read: Frames read from the source.
        dropped: Live frames dropped because the queue was full.
        skipped: Undecodable frames or files skipped.
        reconnects: Reopen attempts of a live source.
        lost: True where a live source could not be reopened.
        skipped_items: Names of the first skipped items.
    """

    read: int = 0
    dropped: int = 0
    skipped: int = 0
    reconnects: int = 0
    lost: bool = False
    skipped_items: list[str] = field(default_factory=list)


def classify(source: str) -> tuple[SourceKind, Any]:
    """Say what a source string names and how OpenCV opens it.

    Args:
        source: The ``--source`` value.

    Returns:
        The kind and the argument for ``cv2.VideoCapture`` (or the folder path).

    Raises:
        DataError: If the source names nothing usable.
    """
    text = str(source).strip()
    if text.isdigit():
        return SourceKind.CAMERA, int(text)
    if text.lower().startswith(("rtsp://", "rtsps://", "http://", "https://", "udp://", "tcp://")):
        return SourceKind.STREAM, text
    path = Path(text)
    if text.startswith("/dev/"):
        return SourceKind.CAMERA, text
    if path.is_dir():
        return SourceKind.FOLDER, path
    if path.is_file():
        if path.suffix.lower() in IMAGE_SUFFIXES:
            msg = f"source {text} is a single image; accepted: {ACCEPTED} (put the image in a folder)"
            raise DataError(msg)
        return SourceKind.VIDEO, text
    msg = f"source {text!r} not found; accepted: {ACCEPTED}"
    raise DataError(msg)


def _folder_frames(folder: Path, stats: SourceStats) -> Iterator[tuple[int, float, np.ndarray]]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        msg = f"image folder {folder} holds no images; accepted suffixes: {', '.join(IMAGE_SUFFIXES)}"
        raise DataError(msg)
    for i, path in enumerate(files):
        image = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED) if path.stat().st_size else None
        if image is None:
            stats.skipped += 1
            if len(stats.skipped_items) < 20:
                stats.skipped_items.append(str(path))
            logger.warning("skipping undecodable image %s", path)
            continue
        yield i, float(i), image


class Capture:
    """Reads a source on a thread into a bounded queue.

    Args:
        source: The ``--source`` value.
        queue_size: Frames the queue holds.
        max_frames: Stop after this many frames (None = until the source ends).
        max_reconnects: Reopen attempts of a live source before giving up; None = forever.
        backoff_s: First reconnect wait; doubles per attempt (capped at 8 s).
        opener: ``cv2.VideoCapture``-like factory (tests pass a fake one).
    """

    def __init__(
        self,
        source: str,
        *,
        queue_size: int = 8,
        max_frames: int | None = None,
        max_reconnects: int | None = 5,
        backoff_s: float = 0.5,
        opener: Callable[[Any], Any] | None = None,
    ) -> None:
        self.kind, self.target = classify(source)
        self.source = str(source)
        self.queue: queue.Queue[Frame | None] = queue.Queue(maxsize=queue_size)
        self.max_frames = max_frames
        self.max_reconnects = max_reconnects
        self.backoff_s = backoff_s
        self.opener = opener or cv2.VideoCapture
        self.stats = SourceStats()
        self.stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        if self.kind is not SourceKind.FOLDER:
            self._cap = self._open()
            if self._cap is None:
                msg = f"cannot open source {self.source!r} ({self.kind}); accepted: {ACCEPTED}"
                raise DataError(msg)

    def _open(self) -> Any:
        cap = self.opener(self.target)
        if cap is None or not cap.isOpened():
            return None
        return cap

    def start(self) -> Capture:
        """Start the capture thread."""
        self._thread = threading.Thread(target=self._run, name="edgekit-capture", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the capture thread to stop (frames already queued stay)."""
        self.stop_event.set()

    def is_alive(self) -> bool:
        """Whether the capture thread is still running."""
        return self._thread is not None and self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the capture thread."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _put(self, frame: Frame) -> None:
        if self.kind.live:
            while True:
                try:
                    self.queue.put_nowait(frame)
                    return
                except queue.Full:
                    try:
                        self.queue.get_nowait()
                        self.stats.dropped += 1
                    except queue.Empty:
                        pass
        while not self.stop_event.is_set():
            try:
                self.queue.put(frame, timeout=0.1)
                return
            except queue.Full:
                continue

    def _frames(self) -> Iterator[tuple[int, float, np.ndarray]]:
        if self.kind is SourceKind.FOLDER:
            yield from _folder_frames(self.target, self.stats)
            return
        index = 0
        failures = 0
        total = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if self.kind is SourceKind.VIDEO else 0
        while not self.stop_event.is_set():
            ok, image = self._cap.read()
            if ok and image is not None and image.size:
                failures = 0
                if self.kind is SourceKind.VIDEO:
                    timestamp = float(self._cap.get(cv2.CAP_PROP_POS_MSEC) or 0.0) / 1000.0
                else:
                    timestamp = time.time()
                yield index, timestamp, image
                index += 1
                continue
            if self.kind is SourceKind.VIDEO:
                if index < total and failures < 16:  # an undecodable frame inside the file: skip it
                    failures += 1
                    self.stats.skipped += 1
                    index += 1
                    continue
                return  # the file ended
            if not self._reconnect():
                return

    def _reconnect(self) -> bool:
        """Reopen a live source with exponential backoff; False when the attempts are used up."""
        self._cap.release()
        delay = self.backoff_s
        attempt = 0
        while self.max_reconnects is None or attempt < self.max_reconnects:
            attempt += 1
            self.stats.reconnects += 1
            limit = "forever" if self.max_reconnects is None else str(self.max_reconnects)
            logger.warning("source %s stopped; reconnect %d/%s in %.1f s", self.source, attempt, limit, delay)
            if self.stop_event.wait(delay):
                return False
            cap = self._open()
            if cap is not None:
                self._cap = cap
                return True
            delay = min(delay * 2, 8.0)
        self.stats.lost = True
        logger.error("source %s lost after %d reconnect attempts", self.source, self.max_reconnects)
        return False

    def _run(self) -> None:
        try:
            for index, timestamp, image in self._frames():
                if self.stop_event.is_set():
                    break
                self.stats.read += 1
                self._put(Frame(index, timestamp, time.perf_counter_ns(), image))
                if self.max_frames is not None and self.stats.read >= self.max_frames:
                    break
        except BaseException as error:  # handed to the consumer, which re-raises it
            self.error = error
        finally:
            if self.kind is not SourceKind.FOLDER:
                self._cap.release()
            while True:  # the end marker must get through, even into a full live queue
                try:
                    self.queue.put(None, timeout=0.1)
                    break
                except queue.Full:
                    if self.kind.live:
                        try:
                            self.queue.get_nowait()
                            self.stats.dropped += 1
                        except queue.Empty:
                            pass
