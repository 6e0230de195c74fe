"""The runtime's Python API: ``load`` a bundle, ``predict`` a frame, ``stream`` sources, ``run`` to files."""

from __future__ import annotations

import json
import logging
import re
import shutil
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from edgekit.devices import PerformanceHint, auto_batch
from edgekit.errors import ConfigError
from edgekit.runtime.engine import Engine
from edgekit.runtime.meter import Meter
from edgekit.runtime.remote import RemoteEngine
from edgekit.runtime.report import RunReport
from edgekit.runtime.result import FrameResult
from edgekit.runtime.sinks import JsonlSink, OverlaySink
from edgekit.runtime.sources import Capture
from edgekit.runtime.stream import Stream

logger = logging.getLogger(__name__)

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
#: What ``run`` writes into ``out``; a rerun removes these first so no file of an earlier run remains.
OUTPUTS = ("results.jsonl", "report.json", "overlays")

Sources = str | Sequence[str | tuple[str, str]]


def named_sources(sources: Sources) -> list[tuple[str, str]]:
    """``(name, source)`` pairs from ``SRC``, ``NAME=SRC`` strings or pairs; names default to the position.

    A ``NAME=`` prefix counts only where NAME is a plain name (letters, digits, ``_.-``), so URLs
    with ``=`` in their query stay whole.

    Raises:
        ConfigError: No source, or two sources with one name.
    """
    items = [sources] if isinstance(sources, str) else list(sources)
    pairs = []
    for i, item in enumerate(items):
        if isinstance(item, tuple):
            name, source = item
        else:
            head, sep, tail = str(item).partition("=")
            name, source = (head, tail) if sep and _NAME.fullmatch(head) and tail else (str(i), str(item))
        if not _NAME.fullmatch(str(name)):
            msg = f"stream name {name!r} is not accepted; accepted: 1-64 letters, digits, '_', '.', '-'"
            raise ConfigError(msg)
        pairs.append((str(name), str(source)))
    names = [name for name, _ in pairs]
    if not pairs:
        msg = "no source given; accepted: --source [NAME=]SRC, once per camera"
        raise ConfigError(msg)
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        msg = f"stream name {duplicates[0]!r} is given twice; accepted: one name per source (--source NAME=SRC)"
        raise ConfigError(msg)
    return pairs


def load(
    bundle: Path | str, device: str = "CPU", *, strict: bool = False, cache_dir: Path | None = None
) -> Engine:
    """Load a bundle on a device for single-frame prediction (``engine.predict(frame)``).

    Args:
        bundle: The bundle folder.
        device: Device name (``CPU``, ``GPU``, ``NPU``, ``AUTO``, ...).
        strict: Refuse frames whose size differs from the grid's.
        cache_dir: Compile cache for GPU/NPU.

    Returns:
        The engine.
    """
    return Engine(Path(bundle), device, cache_dir=cache_dir, hint=PerformanceHint.LATENCY, strict=strict)


def stream(
    bundle: Path | str | Engine,
    sources: Sources,
    *,
    device: str = "CPU",
    batch: int | str = "auto",
    max_wait_ms: float = 10.0,
    max_frames: int | None = None,
    strict: bool = False,
    jobs: int = 0,
    queue_size: int = 8,
    reconnect: int | None = 5,
    stop_event: threading.Event | None = None,
    keep_images: bool = False,
    cache_dir: Path | None = None,
    server: str | None = None,
    model_name: str = "edgekit",
) -> Stream:
    """Stream one or more sources through one compiled bundle; iterate for results in frame order per stream.

    Args:
        bundle: The bundle folder, or an engine compiled with the THROUGHPUT hint.
        sources: One source, or several (``SRC`` or ``NAME=SRC`` strings, or ``(name, source)`` pairs):
            camera index, device path, RTSP/HTTP URL, video file or image folder.
        device: Device name.
        batch: Frames per inference call, ``auto`` (from the device and the number of sources) or a number.
        max_wait_ms: How long a call holding a frame waits for more frames (batch > 1).
        max_frames: Stop each source after this many frames.
        strict: Refuse frames whose size differs from the grid's.
        jobs: Calls in flight (0 = the device's optimal number).
        queue_size: Frames each source's queue holds (live sources drop the oldest beyond it).
        reconnect: Reopen attempts of a live source that stops; None = forever.
        stop_event: Set it to stop taking frames (in-flight frames still finish).
        keep_images: Attach the prepared frame to each result.
        cache_dir: Compile cache for GPU/NPU.
        server: Run the model on this Open Inference Protocol server (``http://HOST:PORT`` or
            ``grpc://HOST:PORT``: ``edgekit serve``, OVMS, KServe) instead of here; ``bundle`` and
            ``device`` are then unused.
        model_name: The model's name on the server.

    Returns:
        The stream: iterate it for :class:`FrameResult` (``result.stream`` names the source); its
        ``captures`` and ``counters`` hold the per-stream counters.
    """
    pairs = named_sources(sources)
    if queue_size < 1:
        msg = f"queue size {queue_size} is out of range; accepted: >= 1 frames"
        raise ConfigError(msg)
    if reconnect is not None and reconnect < 0:
        msg = f"reconnect {reconnect} is out of range; accepted: >= 0 attempts, or forever"
        raise ConfigError(msg)
    engine: Engine | RemoteEngine
    # on a server, frames of several requests are batched there: one frame per call by default
    frames_per_call = (1 if server else auto_batch(device, len(pairs))) if batch == "auto" else batch
    if not isinstance(frames_per_call, int) or isinstance(frames_per_call, bool):
        msg = f"batch {batch!r} is not accepted; accepted: auto or a number of frames (1 to 64)"
        raise ConfigError(msg)
    engine: Engine | RemoteEngine
    if isinstance(bundle, Engine | RemoteEngine):
        engine = bundle
    elif server is not None:
        engine = RemoteEngine(server, model_name, batch=frames_per_call, strict=strict)
    else:
        engine = Engine(
            Path(bundle),
            device,
            cache_dir=cache_dir,
            hint=PerformanceHint.THROUGHPUT,
            strict=strict,
            batch=frames_per_call,
        )
    captures = [
        (name, Capture(source, max_frames=max_frames, queue_size=queue_size, max_reconnects=reconnect))
        for name, source in pairs
    ]
    return Stream(
        engine, captures, jobs=jobs, max_wait_ms=max_wait_ms, stop_event=stop_event, keep_images=keep_images
    )


def _clean(out: Path) -> None:
    """Remove what an earlier run left in ``out`` (only edgekit's own outputs)."""
    for name in OUTPUTS:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def run(
    bundle: Path | str,
    sources: Sources,
    *,
    device: str = "CPU",
    out: Path | None = None,
    overlays: bool = False,
    max_frames: int | None = None,
    strict: bool = False,
    jobs: int = 0,
    batch: int | str = "auto",
    max_wait_ms: float = 10.0,
    queue_size: int = 8,
    reconnect: int | None = 5,
    warmup: int = 5,
    stop_event: threading.Event | None = None,
    on_result: Callable[[FrameResult, int, float], None] | None = None,
    publisher: Any = None,
    cache_dir: Path | None = None,
    server: str | None = None,
    model_name: str = "edgekit",
) -> RunReport:
    """Stream sources to ``out/results.jsonl`` (+ overlays, + a publisher) and return the report (``out/report.json``).

    Args:
        bundle: The bundle folder.
        sources: One source or several (see :func:`stream`).
        device: Device name.
        out: Output folder (None: no files, report only). Files of an earlier run there are replaced.
        overlays: Write a PNG overlay per anomalous frame to ``out/overlays`` (``out/overlays/NAME``
            with several sources).
        max_frames: Stop each source after this many frames.
        strict: Refuse frames whose size differs from the grid's.
        jobs: Calls in flight (0 = the device's optimal number).
        batch: Frames per inference call (``auto`` or a number).
        max_wait_ms: How long a call holding a frame waits for more frames.
        queue_size: Frames each source's queue holds.
        reconnect: Reopen attempts of a live source; None = forever.
        warmup: Leading frames (of each stream) excluded from fps and percentiles.
        stop_event: Set it to stop taking frames (signal handlers); the run still finishes cleanly.
        on_result: Called with (result, frames so far, fps so far) after each frame (console line).
        publisher: Gets ``publish(stream_name, result)`` per frame and ``close()``/``stats()`` at the
            end (the MQTT sink); it must never block for long.
        cache_dir: Compile cache for GPU/NPU.
        server: Run the model on this Open Inference Protocol server instead (see :func:`stream`).
        model_name: The model's name on the server.

    Returns:
        The run report.

    Raises:
        ConfigError: A negative ``warmup`` or another option out of range.
    """
    if warmup < 0:  # a negative count would slice the latency samples from the end
        msg = f"warmup {warmup} is out of range; accepted: >= 0 (frames left out of fps and percentiles)"
        raise ConfigError(msg)
    stop_event = stop_event or threading.Event()
    results = stream(
        bundle,
        sources,
        device=device,
        batch=batch,
        max_wait_ms=max_wait_ms,
        max_frames=max_frames,
        strict=strict,
        jobs=jobs,
        queue_size=queue_size,
        reconnect=reconnect,
        stop_event=stop_event,
        keep_images=overlays and out is not None,
        cache_dir=cache_dir,
        server=server,
        model_name=model_name,
    )
    if out is not None:
        _clean(Path(out))
    jsonl = JsonlSink(Path(out) / "results.jsonl") if out is not None else None
    per_stream = len(results.captures) > 1
    overlay_sink = OverlaySink(Path(out) / "overlays", per_stream=per_stream) if overlays and out else None
    meter = Meter(results.names, warmup)
    try:
        for result in results:
            if jsonl is not None:
                jsonl.write(result)
            if overlay_sink is not None and result.image is not None:
                overlay_sink.write(result.image, result)
            if publisher is not None:
                publisher.publish(result.stream, result)
            frames, fps = meter.add(result)
            if on_result is not None:
                on_result(result, frames, fps)
    finally:
        if jsonl is not None:
            jsonl.close()
        delivery = None
        if publisher is not None:
            publisher.close()
            delivery = publisher.stats()
    report = meter.report(bundle, results, stop_event, max_frames, delivery)
    if out is not None:
        from edgekit.artifacts.files import write_json

        write_json(Path(out) / "report.json", json.loads(json.dumps(report.to_dict())))
    return report
