"""The streaming loop: one capture thread per source -> batcher -> async inference -> boxes, per-stream order.

Frames of every source are gathered into calls of up to B frames (the engine's batch): round-robin
over the sources' queues, so a busy camera cannot starve a quiet one, and a batch waits at most
``max_wait_ms`` for more frames once it holds one, so a quiet or stalled source never holds back a
busy one. Several calls are in flight; results come out in frame order per stream whatever order
the calls complete in. The AsyncInferQueue callback holds the GIL, so it only copies the outputs
and records the time; the boxes are found on the consuming thread. A frame whose result is not
finite, or whose call failed or did not finish within ``infer_timeout_s``, is a counted frame
error of its stream; the stream goes on.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from edgekit.errors import DataError
from edgekit.runtime.engine import Engine, FrameError, Outputs
from edgekit.runtime.remote import RemoteEngine
from edgekit.runtime.result import FrameResult
from edgekit.runtime.sources import Capture, Frame

logger = logging.getLogger(__name__)

_ERROR = object()  # marks a frame slot that ended in an error: it is skipped, in order


@dataclass
class StreamCounters:
    """What happened to one stream's frames after capture (the capture's own counters are separate).

    Attributes:
        skipped: Frames refused by preparation (unusable shape or dtype).
        frame_errors: Frames whose inference failed, timed out or gave a non-finite result.
        skipped_reasons: The first skip reasons.
        error_reasons: The first error reasons.
    """

    skipped: int = 0
    frame_errors: int = 0
    skipped_reasons: list[str] = field(default_factory=list)
    error_reasons: list[str] = field(default_factory=list)

    def skip(self, reason: str) -> None:
        """Count a skipped frame."""
        self.skipped += 1
        if len(self.skipped_reasons) < 20:
            self.skipped_reasons.append(reason)

    def error(self, reason: str) -> None:
        """Count a frame error."""
        self.frame_errors += 1
        if len(self.error_reasons) < 20:
            self.error_reasons.append(reason)


@dataclass
class _Slot:
    stream: int
    frame: Frame
    image: np.ndarray
    taken_ns: int
    prepped_ns: int


@dataclass
class _Call:
    slots: list[_Slot]
    tensor: np.ndarray  # read in place by the request (share_inputs): kept alive until the call ends
    submitted_ns: int
    deadline: float


class Stream:
    """Iterate over :class:`FrameResult` of one or more sources: frame order within each stream.

    Args:
        engine: A compiled bundle (``THROUGHPUT`` hint recommended) or a model on a server
            (:class:`RemoteEngine`); its ``batch`` is B.
        captures: One capture, or ``(name, capture)`` pairs, one per source (started by the stream).
        jobs: Calls in flight; 0 = the device's optimal number (at least 2).
        max_wait_ms: How long a call that holds at least one frame waits for more (B > 1).
        stop_event: Set it (e.g. from a signal handler) to stop taking frames; frames in flight
            still finish and are yielded.
        keep_images: Attach each prepared frame to its result (for overlays).
        stop_timeout_s: How long the end of the stream waits for the capture threads; a live source
            stuck in a read (a stalled network stream) is left behind after that, a daemon thread.
        infer_timeout_s: A call not finished after this long fails its frames (counted errors).
    """

    def __init__(
        self,
        engine: Engine | RemoteEngine,
        captures: Capture | Sequence[tuple[str, Capture]],
        *,
        jobs: int = 0,
        max_wait_ms: float = 10.0,
        stop_event: threading.Event | None = None,
        keep_images: bool = False,
        stop_timeout_s: float = 5.0,
        infer_timeout_s: float = 30.0,
    ) -> None:
        self.engine = engine
        pairs = [("0", captures)] if isinstance(captures, Capture) else list(captures)
        names = [name for name, _ in pairs]
        if not pairs or len(set(names)) != len(names):
            msg = f"stream names must be unique and at least one source given; got {names}"
            raise DataError(msg)
        self.names = names
        self.captures = [capture for _, capture in pairs]
        self.counters = [StreamCounters() for _ in pairs]
        self.stop_event = stop_event or threading.Event()
        self.jobs = jobs if jobs > 0 else max(2, engine.optimal_requests)
        self.batch = engine.batch
        self.max_wait_s = max(0.0, max_wait_ms) / 1000.0
        self.infer_queue = engine.infer_queue(self.jobs, self._done)
        self.keep_images = keep_images
        self.stop_timeout_s = stop_timeout_s
        self.infer_timeout_s = infer_timeout_s
        self.batch_sizes: Counter[int] = Counter()
        self._completed: queue.Queue[tuple[int, Outputs | None, int, str]] = queue.Queue()
        self._rr = 0
        self.started_ns = 0
        self.finished_ns = 0

    # --- backwards-compatible single-source view ---------------------------------------------------

    @property
    def capture(self) -> Capture:
        """The first source's capture."""
        return self.captures[0]

    @property
    def skipped_frames(self) -> int:
        """Frames skipped by preparation, all streams."""
        return sum(c.skipped for c in self.counters)

    @property
    def skipped_reasons(self) -> list[str]:
        """The first skip reasons, all streams."""
        return [r for c in self.counters for r in c.skipped_reasons][:20]

    @property
    def frame_errors(self) -> int:
        """Frame errors, all streams."""
        return sum(c.frame_errors for c in self.counters)

    @property
    def error_reasons(self) -> list[str]:
        """The first frame-error reasons, all streams."""
        return [r for c in self.counters for r in c.error_reasons][:20]

    # --- the loop ----------------------------------------------------------------------------------

    def _done(self, outputs: Outputs | None, call_id: int, error: str) -> None:
        # runs on an inference thread (OpenVINO's, holding the GIL, or a server client's): hand over, no more
        self._completed.put((call_id, outputs, time.perf_counter_ns(), error))

    def __iter__(self) -> Iterator[FrameResult]:
        """Run the streams; yields one result per processed frame, in frame order per stream."""
        n = len(self.captures)
        ended = [False] * n
        pending: dict[int, _Call] = {}
        done: list[dict[int, Any]] = [{} for _ in range(n)]
        order: list[deque[int]] = [deque() for _ in range(n)]
        call_id = 0
        self.started_ns = time.perf_counter_ns()
        for capture in self.captures:
            capture.start()
        try:
            while True:
                while not all(ended) and len(pending) < self.jobs:
                    if self.stop_event.is_set():
                        for capture in self.captures:
                            capture.stop()
                        ended = [True] * n
                        break
                    slots = self._gather(ended, wait_s=0.005 if pending else 0.1)
                    if not slots:
                        break
                    call = self._submit(slots, call_id)
                    if call is not None:
                        pending[call_id] = call
                        for slot in call.slots:
                            order[slot.stream].append(slot.frame.index)
                        call_id += 1
                if all(ended) and not pending:
                    break
                busy = len(pending) >= self.jobs or all(ended)
                self._collect(pending, done, block=bool(pending) and busy)
                self._expire(pending, done)
                for s in range(n):
                    while order[s] and order[s][0] in done[s]:
                        item = done[s].pop(order[s].popleft())
                        if item is not _ERROR:
                            yield item
        finally:
            # also when the consumer breaks off early: no request may read a tensor after it is freed
            self.infer_queue.wait_all()
            for capture in self.captures:
                capture.stop()
            self._drain_captures(time.monotonic() + self.stop_timeout_s)
            self.finished_ns = time.perf_counter_ns()
        errors = [c.error for c in self.captures if c.error is not None]
        if errors:
            raise errors[0]

    def _gather(self, ended: list[bool], wait_s: float) -> list[tuple[int, Frame, int]]:
        """Up to B frames from any streams, round-robin; streams whose end marker arrives are marked ended.

        Waits at most ``wait_s`` for a first frame, and ``max_wait_ms`` after it for a full batch.
        """
        n = len(self.captures)
        got: list[tuple[int, Frame, int]] = []
        start = time.monotonic()
        first_at: float | None = None
        while True:
            took = False
            for k in range(n):
                s = (self._rr + k) % n
                if ended[s]:
                    continue
                try:
                    frame = self.captures[s].queue.get_nowait()
                except queue.Empty:
                    continue
                if frame is None:
                    ended[s] = True
                    continue
                got.append((s, frame, time.perf_counter_ns()))
                took = True
                if len(got) >= self.batch:
                    self._rr = (s + 1) % n
                    return got
            self._rr = (self._rr + 1) % n
            now = time.monotonic()
            if got:
                first_at = first_at if first_at is not None else now
                if self.batch == 1 or now - first_at >= self.max_wait_s or all(ended):
                    return got
            elif all(ended) or now - start >= wait_s:
                return got
            if not took:
                time.sleep(0.0005)

    def _submit(self, gathered: list[tuple[int, Frame, int]], call_id: int) -> _Call | None:
        """Prepare the frames and start one call; None when every frame was skipped."""
        slots = []
        for s, frame, taken in gathered:
            try:
                image = np.ascontiguousarray(self.engine.prep(frame.image))
            except DataError as error:
                if self.engine.prep.strict:
                    raise
                self.counters[s].skip(f"frame {frame.index}: {error}")
                logger.warning("stream %s: skipping frame %d: %s", self.names[s], frame.index, error)
                continue
            slots.append(_Slot(s, frame, image, taken, time.perf_counter_ns()))
        if not slots:
            return None
        tensor = self.engine.batch_tensor([slot.image for slot in slots])
        self.batch_sizes[len(slots)] += 1
        submitted = time.perf_counter_ns()
        try:
            self.infer_queue.start_async(tensor, call_id)
        except RuntimeError as error:
            for slot in slots:
                self.counters[slot.stream].error(f"frame {slot.frame.index}: inference did not start: {error}")
            return None
        return _Call(slots, tensor, submitted, time.monotonic() + self.infer_timeout_s)

    def _collect(self, pending: dict[int, _Call], done: list[dict[int, Any]], block: bool) -> None:
        """Turn finished calls into results (or error marks) in ``done``; waits for one if ``block``."""
        while True:
            try:
                call_id, outputs, finished_ns, error = self._completed.get(timeout=0.05) if block else (
                    self._completed.get_nowait()
                )
            except queue.Empty:
                return
            block = False
            call = pending.pop(call_id, None)
            if call is None:  # already expired: its frames were counted as errors
                continue
            for j, slot in enumerate(call.slots):
                done[slot.stream][slot.frame.index] = self._result(call, j, outputs, finished_ns, error)

    def _expire(self, pending: dict[int, _Call], done: list[dict[int, Any]]) -> None:
        now = time.monotonic()
        for call_id in [c for c, call in pending.items() if call.deadline < now]:
            call = pending.pop(call_id)
            for slot in call.slots:
                reason = f"frame {slot.frame.index}: inference did not finish within {self.infer_timeout_s:g} s"
                self.counters[slot.stream].error(reason)
                done[slot.stream][slot.frame.index] = _ERROR
            logger.error("stream call %d timed out after %.1f s", call_id, self.infer_timeout_s)

    def _result(self, call: _Call, j: int, outputs: Outputs | None, finished_ns: int, error: str = "") -> Any:
        slot = call.slots[j]
        counters, name = self.counters[slot.stream], self.names[slot.stream]
        if outputs is None:
            counters.error(f"frame {slot.frame.index}: inference failed: {error or 'no reason given'}")
            return _ERROR
        frame = slot.frame
        timings = {
            "capture_wait": (slot.taken_ns - frame.captured_ns) / 1e6,
            "prep": (slot.prepped_ns - slot.taken_ns) / 1e6,
            "infer": (finished_ns - call.submitted_ns) / 1e6,
        }
        mine = {key: value[j : j + 1] for key, value in outputs.items()}
        try:
            result = self.engine.finish(mine, frame.index, frame.timestamp, tuple(frame.image.shape[:2]), timings)
        except FrameError as error:
            counters.error(f"stream {name}: {error}")
            logger.warning("stream %s: frame error: %s", name, error)
            return _ERROR
        now = time.perf_counter_ns()
        result.timings_ms["process"] = (now - slot.taken_ns) / 1e6  # taken from the queue -> result
        result.timings_ms["e2e"] = (now - frame.captured_ns) / 1e6  # read from the source -> result
        return replace(result, stream=name, image=slot.image if self.keep_images else None)

    def _drain_captures(self, deadline: float) -> None:
        """Empty the queues until the capture threads end (a file reader waits for room for its end marker).

        Bounded: a live source stuck in ``read()`` never sees the stop request, and waiting for it
        would turn Ctrl-C into a hang.
        """
        while True:
            alive = False
            for capture in self.captures:
                try:
                    while True:
                        capture.queue.get_nowait()
                except queue.Empty:
                    pass
                alive = alive or capture.is_alive()
            if not alive:
                return
            if time.monotonic() >= deadline:
                stuck = [c.source for c in self.captures if c.is_alive()]
                logger.warning(
                    "sources %s did not stop within %.1f s (stuck in a read); leaving their threads behind",
                    stuck,
                    self.stop_timeout_s,
                )
                return
            time.sleep(0.01)
