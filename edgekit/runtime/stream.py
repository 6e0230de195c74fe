"""The streaming loop: capture thread -> prep -> async inference (several frames in flight) -> boxes.

Results come out in frame order whatever order the requests complete in. The AsyncInferQueue
callback holds the GIL, so it only copies the request's outputs and records the time; the boxes
are found on the consuming thread, overlapping with the inference of later frames. A frame whose
result is not finite is counted as a frame error and left out; the stream goes on.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from edgekit._extras import require
from edgekit.errors import DataError
from edgekit.runtime.engine import Engine, FrameError, Outputs, read_outputs
from edgekit.runtime.result import FrameResult
from edgekit.runtime.sources import Capture, Frame

logger = logging.getLogger(__name__)


@dataclass
class _InFlight:
    frame: Frame
    image: np.ndarray  # the prepared frame: the request reads it in place (share_inputs), keep it alive
    taken_ns: int
    prepped_ns: int
    submitted_ns: int
    source_hw: tuple[int, int]


class Stream:
    """Iterate over :class:`FrameResult` of a source, in frame order.

    Args:
        engine: A compiled bundle (``THROUGHPUT`` hint recommended).
        capture: The source's capture (started by the stream).
        jobs: Requests in flight; 0 = the device's optimal number.
        stop_event: Set it (e.g. from a signal handler) to stop taking frames; frames in flight
            still finish and are yielded.
        keep_images: Attach each prepared frame to its result (for overlays).
        stop_timeout_s: How long the end of the stream waits for the capture thread; a live source
            stuck in a read (a stalled network stream) is left behind after that, a daemon thread.
    """

    def __init__(
        self,
        engine: Engine,
        capture: Capture,
        *,
        jobs: int = 0,
        stop_event: threading.Event | None = None,
        keep_images: bool = False,
        stop_timeout_s: float = 5.0,
    ) -> None:
        ov = require("openvino", "runtime")
        self.engine = engine
        self.capture = capture
        self.stop_event = stop_event or threading.Event()
        self.jobs = jobs if jobs > 0 else max(2, engine.optimal_requests)
        self.infer_queue = ov.AsyncInferQueue(engine.compiled, self.jobs)
        self.infer_queue.set_callback(self._done)
        self.keep_images = keep_images
        self.stop_timeout_s = stop_timeout_s
        self._completed: queue.Queue[tuple[int, Outputs, int]] = queue.Queue()
        self.skipped_frames = 0
        self.skipped_reasons: list[str] = []
        self.frame_errors = 0
        self.error_reasons: list[str] = []
        self.started_ns = 0
        self.finished_ns = 0

    def _done(self, request: Any, index: int) -> None:
        # runs on an OpenVINO thread with the GIL: copy the outputs out of the reused request, no more
        self._completed.put((index, read_outputs(request), time.perf_counter_ns()))

    def __iter__(self) -> Iterator[FrameResult]:
        """Run the stream; yields one result per processed frame."""
        pending: dict[int, _InFlight] = {}
        done: dict[int, tuple[Outputs, int]] = {}
        order: list[int] = []
        submitted = 0
        ended = False
        self.started_ns = time.perf_counter_ns()
        self.capture.start()
        try:
            while True:
                # 1. submit frames while requests are free
                while not ended and len(pending) < self.jobs:
                    if self.stop_event.is_set():
                        self.capture.stop()
                        ended = True
                        break
                    try:
                        frame = self.capture.queue.get(timeout=0.005 if pending else 0.1)
                    except queue.Empty:
                        break
                    if frame is None:
                        ended = True
                        break
                    flight = self._submit(frame)
                    if flight is not None:
                        submitted += 1
                        pending[frame.index] = flight
                        order.append(frame.index)
                if ended and not pending:
                    break
                # 2. collect finished requests: wait for one only when no frame can be submitted
                self._collect(done, block=bool(pending) and (ended or len(pending) >= self.jobs))
                # 3. emit in frame order
                while order and order[0] in done:
                    index = order.pop(0)
                    outputs, finished_ns = done.pop(index)
                    try:
                        result = self._result(pending.pop(index), outputs, finished_ns)
                    except FrameError as error:
                        self._count_error(error)
                        continue
                    yield result
        finally:
            # also when the consumer breaks off early: no request may read a buffer after it is freed
            self.infer_queue.wait_all()
            self.capture.stop()
            self._drain_capture(time.monotonic() + self.stop_timeout_s)
            self.finished_ns = time.perf_counter_ns()
        if self.capture.error is not None:
            raise self.capture.error

    def _count_error(self, error: FrameError) -> None:
        self.frame_errors += 1
        if len(self.error_reasons) < 20:
            self.error_reasons.append(str(error))
        logger.warning("frame error: %s", error)

    def _submit(self, frame: Frame) -> _InFlight | None:
        """Prepare a frame and start its request; None when the frame is skipped."""
        taken = time.perf_counter_ns()
        try:
            image = np.ascontiguousarray(self.engine.prep(frame.image))
        except DataError as error:
            if self.engine.prep.strict:
                raise
            self.skipped_frames += 1
            if len(self.skipped_reasons) < 20:
                self.skipped_reasons.append(f"frame {frame.index}: {error}")
            logger.warning("skipping frame %d: %s", frame.index, error)
            return None
        prepped = time.perf_counter_ns()
        self.infer_queue.start_async({0: image[None]}, userdata=frame.index, share_inputs=True)
        return _InFlight(frame, image, taken, prepped, time.perf_counter_ns(), tuple(frame.image.shape[:2]))

    def _drain_capture(self, deadline: float) -> None:
        """Empty the queue until the capture thread ends (a file reader waits for room for its end marker).

        Bounded: a live source stuck in ``read()`` never sees the stop request, and waiting for it
        would turn Ctrl-C into a hang.
        """
        while True:
            try:
                self.capture.queue.get_nowait()
            except queue.Empty:
                if self._thread_done():
                    return
                if time.monotonic() >= deadline:
                    logger.warning(
                        "source %s did not stop within %.1f s (stuck in a read); leaving its thread behind",
                        self.capture.source,
                        self.stop_timeout_s,
                    )
                    return
                time.sleep(0.01)

    def _thread_done(self) -> bool:
        thread = self.capture._thread
        return thread is None or not thread.is_alive()

    def _collect(self, done: dict[int, tuple[Outputs, int]], block: bool) -> None:
        if block:
            try:
                index, maps, t = self._completed.get(timeout=1.0)
                done[index] = (maps, t)
            except queue.Empty:
                return
        while True:
            try:
                index, maps, t = self._completed.get_nowait()
            except queue.Empty:
                return
            done[index] = (maps, t)

    def _result(self, flight: _InFlight, outputs: Outputs, finished_ns: int) -> FrameResult:
        frame = flight.frame
        timings = {
            "capture_wait": (flight.taken_ns - frame.captured_ns) / 1e6,
            "prep": (flight.prepped_ns - flight.taken_ns) / 1e6,
            "infer": (finished_ns - flight.submitted_ns) / 1e6,
        }
        result = self.engine.finish(outputs, frame.index, frame.timestamp, flight.source_hw, timings)
        now = time.perf_counter_ns()
        result.timings_ms["process"] = (now - flight.taken_ns) / 1e6  # taken from the queue -> result
        result.timings_ms["e2e"] = (now - frame.captured_ns) / 1e6  # read from the source -> result
        if self.keep_images:
            return replace(result, image=flight.image)
        return result
