"""Counting a run as results arrive: per-stream and total frames, fps and stage times, then the report."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from edgekit.perf import peak_rss_mb
from edgekit.runtime.report import RunReport, StageTimes
from edgekit.runtime.result import FrameResult
from edgekit.runtime.stream import Stream


class _Rate:
    """Frames and frames/s of a series of results, the first ``warmup`` excluded from the rate."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.frames = 0
        self.anomalous = 0
        self.t_first = self.t_warm = self.t_last = time.perf_counter()
        self.times = StageTimes()

    def add(self, result: FrameResult) -> None:
        self.frames += 1
        self.anomalous += int(result.label)
        self.times.add(result)
        self.t_last = time.perf_counter()
        if self.frames == 1:
            self.t_first = self.t_last
        if self.frames == self.warmup:
            self.t_warm = self.t_last

    @property
    def fps(self) -> float:
        measured = self.frames - self.warmup if self.frames > self.warmup else self.frames - 1
        span = (self.t_last - self.t_warm) if self.frames > self.warmup else (self.t_last - self.t_first)
        return round(measured / span, 3) if span > 0 and measured > 0 else 0.0

    @property
    def running_fps(self) -> float:
        return (self.frames - 1) / (self.t_last - self.t_first) if self.frames > 1 else 0.0


class Meter:
    """Per-stream and total counts of a run.

    Args:
        names: The stream names.
        warmup: Leading frames excluded from fps and percentiles (in total, and per stream).
    """

    def __init__(self, names: list[str], warmup: int) -> None:
        self.names = names
        self.warmup = warmup
        self.total = _Rate(warmup)
        self.per_stream = {name: _Rate(warmup) for name in names}

    def add(self, result: FrameResult) -> tuple[int, float]:
        """Count a result; returns the frames so far and the running frames/s (all streams)."""
        self.total.add(result)
        self.per_stream[result.stream].add(result)
        return self.total.frames, self.total.running_fps

    def _streams(self, results: Stream) -> list[dict[str, Any]]:
        out = []
        for name, capture, counters in zip(results.names, results.captures, results.counters, strict=True):
            rate = self.per_stream[name]
            e2e = rate.times.stats(self.warmup).get("e2e", {})
            out.append(
                {
                    "name": name,
                    "source": capture.source,
                    "frames": rate.frames,
                    "anomalous": rate.anomalous,
                    "fps": rate.fps,
                    "e2e_ms": {k: e2e.get(k, 0.0) for k in ("p50", "p95", "p99")},
                    "dropped": capture.stats.dropped,
                    "skipped": capture.stats.skipped + counters.skipped,
                    "frame_errors": counters.frame_errors,
                    "reconnects": capture.stats.reconnects,
                    "source_lost": capture.stats.lost,
                }
            )
        return out

    def report(
        self,
        bundle: Path | str,
        results: Stream,
        stop_event: threading.Event,
        max_frames: int | None,
        publish: dict[str, Any] | None,
    ) -> RunReport:
        """The run's report once the stream has ended."""
        engine, captures = results.engine, results.captures
        if stop_event.is_set():
            stopped_by = getattr(stop_event, "reason", "signal")
        elif max_frames is not None and all(c.stats.read >= max_frames for c in captures):
            stopped_by = "max_frames"
        elif all(c.stats.lost for c in captures):
            stopped_by = "source_lost"
        else:
            stopped_by = "end"
        total = self.total
        return RunReport(
            bundle=str(bundle),
            source=", ".join(c.source for c in captures),
            device=engine.device,
            precision=engine.precision,
            frames=total.frames,
            anomalous=total.anomalous,
            fps=total.fps,
            wall_s=round((results.finished_ns - results.started_ns) / 1e9, 3),
            warmup_frames=min(self.warmup, total.frames),
            latency_ms=total.times.stats(self.warmup),
            dropped=sum(c.stats.dropped for c in captures),
            skipped=sum(c.stats.skipped for c in captures) + results.skipped_frames,
            reconnects=sum(c.stats.reconnects for c in captures),
            source_lost=any(c.stats.lost for c in captures),
            stopped_by=stopped_by,
            peak_rss_mb=round(peak_rss_mb(), 1),
            jobs=results.jobs,
            compile_s=round(engine.compile_s, 3),
            skipped_items=[i for c in captures for i in c.stats.skipped_items] + results.skipped_reasons,
            frame_errors=results.frame_errors,
            error_items=list(results.error_reasons),
            streams=self._streams(results),
            batch=results.batch,
            batch_sizes={str(k): v for k, v in sorted(results.batch_sizes.items())},
            publish=publish,
        )
