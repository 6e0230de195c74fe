"""The runtime's Python API: ``load`` a bundle, ``predict`` a frame, ``stream`` a source, ``run`` to files."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from edgekit.devices import PerformanceHint
from edgekit.errors import ConfigError
from edgekit.perf import peak_rss_mb
from edgekit.runtime.engine import Engine
from edgekit.runtime.report import RunReport, StageTimes
from edgekit.runtime.result import FrameResult
from edgekit.runtime.sinks import JsonlSink, OverlaySink
from edgekit.runtime.sources import Capture
from edgekit.runtime.stream import Stream

logger = logging.getLogger(__name__)


def load(bundle: Path | str, device: str = "CPU", *, strict: bool = False, cache_dir: Path | None = None) -> Engine:
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
    source: str,
    *,
    device: str = "CPU",
    max_frames: int | None = None,
    strict: bool = False,
    jobs: int = 0,
    stop_event: threading.Event | None = None,
    keep_images: bool = False,
    cache_dir: Path | None = None,
) -> Stream:
    """Stream a source through a bundle; iterate the returned object for results in frame order.

    Args:
        bundle: The bundle folder, or an engine compiled with the THROUGHPUT hint.
        source: Camera index, device path, RTSP/HTTP URL, video file or image folder.
        device: Device name.
        max_frames: Stop after this many frames.
        strict: Refuse frames whose size differs from the grid's.
        jobs: Requests in flight (0 = the device's optimal number).
        stop_event: Set it to stop taking frames (in-flight frames still finish).
        keep_images: Attach the prepared frame to each result.
        cache_dir: Compile cache for GPU/NPU.

    Returns:
        The stream (an iterable of :class:`FrameResult`; its ``capture.stats`` hold the counters).
    """
    engine = (
        bundle
        if isinstance(bundle, Engine)
        else Engine(Path(bundle), device, cache_dir=cache_dir, hint=PerformanceHint.THROUGHPUT, strict=strict)
    )
    capture = Capture(source, max_frames=max_frames)
    return Stream(engine, capture, jobs=jobs, stop_event=stop_event, keep_images=keep_images)


def run(
    bundle: Path | str,
    source: str,
    *,
    device: str = "CPU",
    out: Path | None = None,
    overlays: bool = False,
    max_frames: int | None = None,
    strict: bool = False,
    jobs: int = 0,
    warmup: int = 5,
    stop_event: threading.Event | None = None,
    on_result: Callable[[FrameResult, int, float], None] | None = None,
    cache_dir: Path | None = None,
) -> RunReport:
    """Stream a source to ``out/results.jsonl`` (+ overlays) and return the report (also ``out/report.json``).

    Args:
        bundle: The bundle folder.
        source: Camera index, device path, RTSP/HTTP URL, video file or image folder.
        device: Device name.
        out: Output folder (None: no files, report only).
        overlays: Write a PNG overlay per anomalous frame to ``out/overlays``.
        max_frames: Stop after this many frames.
        strict: Refuse frames whose size differs from the grid's.
        jobs: Requests in flight (0 = the device's optimal number).
        warmup: Leading frames excluded from fps and percentiles.
        stop_event: Set it to stop taking frames (signal handlers); the run still finishes cleanly.
        on_result: Called with (result, frames so far, fps so far) after each frame (console line).
        cache_dir: Compile cache for GPU/NPU.

    Returns:
        The run report.

    Raises:
        ConfigError: A negative ``warmup``.
    """
    if warmup < 0:  # a negative count would slice the latency samples from the end
        msg = f"warmup {warmup} is out of range; accepted: >= 0 (frames left out of fps and percentiles)"
        raise ConfigError(msg)
    stop_event = stop_event or threading.Event()
    results = stream(
        bundle,
        source,
        device=device,
        max_frames=max_frames,
        strict=strict,
        jobs=jobs,
        stop_event=stop_event,
        keep_images=overlays and out is not None,
        cache_dir=cache_dir,
    )
    engine = results.engine
    jsonl = JsonlSink(Path(out) / "results.jsonl") if out is not None else None
    overlay_sink = OverlaySink(Path(out) / "overlays") if overlays and out is not None else None
    times = StageTimes()
    frames = anomalous = 0
    t_first = t_warm = t_last = time.perf_counter()
    try:
        for result in results:
            if jsonl is not None:
                jsonl.write(result)
            if overlay_sink is not None and result.image is not None:
                overlay_sink.write(result.image, result)
            times.add(result)
            frames += 1
            anomalous += int(result.label)
            t_last = time.perf_counter()
            if frames == 1:
                t_first = t_last
            if frames == warmup:
                t_warm = t_last
            if on_result is not None:
                on_result(result, frames, (frames - 1) / (t_last - t_first) if frames > 1 else 0.0)
    finally:
        if jsonl is not None:
            jsonl.close()
    measured = frames - warmup if frames > warmup else frames - 1
    span = (t_last - t_warm) if frames > warmup else (t_last - t_first)
    stats = results.capture.stats
    if stop_event.is_set():
        stopped_by = getattr(stop_event, "reason", "signal")
    elif max_frames is not None and stats.read >= max_frames:
        stopped_by = "max_frames"
    else:
        stopped_by = "source_lost" if stats.lost else "end"
    report = RunReport(
        bundle=str(bundle),
        source=str(source),
        device=engine.device,
        precision=engine.manifest.precision,
        frames=frames,
        anomalous=anomalous,
        fps=round(measured / span, 3) if span > 0 and measured > 0 else 0.0,
        wall_s=round((results.finished_ns - results.started_ns) / 1e9, 3),
        warmup_frames=min(warmup, frames),
        latency_ms=times.stats(warmup),
        dropped=stats.dropped,
        skipped=stats.skipped + results.skipped_frames,
        reconnects=stats.reconnects,
        source_lost=stats.lost,
        stopped_by=stopped_by,
        peak_rss_mb=round(peak_rss_mb(), 1),
        jobs=results.jobs,
        compile_s=round(engine.compile_s, 3),
        skipped_items=stats.skipped_items + results.skipped_reasons,
        frame_errors=results.frame_errors,
        error_items=list(results.error_reasons),
    )
    if out is not None:
        from edgekit.artifacts.files import write_json

        write_json(Path(out) / "report.json", json.loads(json.dumps(report.to_dict())))
    return report
