"""The end-of-run report: frames, frames/s, per-stage latency percentiles, drops and skips, memory."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from edgekit.perf import LatencyStats
from edgekit.runtime.result import STAGES, FrameResult


@dataclass
class StageTimes:
    """Per-stage milliseconds of every frame, in order."""

    samples: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STAGES})

    def add(self, result: FrameResult) -> None:
        """Record a frame's timings."""
        for stage in STAGES:
            if stage in result.timings_ms:
                self.samples[stage].append(result.timings_ms[stage])

    def stats(self, warmup: int) -> dict[str, dict[str, float | int]]:
        """Percentiles per stage, the first ``warmup`` frames excluded."""
        return {
            s: LatencyStats.from_ms(v, warmup=min(warmup, max(0, len(v) - 1))).to_dict()
            for s, v in self.samples.items()
            if v
        }


@dataclass(frozen=True)
class RunReport:
    """What ``report.json`` holds.

    Attributes:
        bundle: The bundle folder.
        source: The source string.
        device: The device the model ran on.
        precision: The bundle's precision.
        frames: Frames with a result.
        anomalous: Frames labelled anomalous.
        fps: Results per second over the measured frames (warm-up excluded).
        wall_s: Wall time from first frame taken to last result.
        warmup_frames: Frames excluded from the percentiles and fps.
        latency_ms: Stage -> p50/p95/p99/mean/max.
        dropped: Live frames dropped because the queue was full.
        skipped: Frames skipped (undecodable or unusable).
        reconnects: Reconnect attempts of a live source.
        source_lost: A live source that could not be reopened.
        stopped_by: ``end`` of source, ``max_frames``, or the signal name.
        peak_rss_mb: Peak resident memory of the process.
        jobs: Inference requests in flight.
        compile_s: Model compile time.
        skipped_items: The first skipped items with reasons.
        frame_errors: Frames the model failed on (non-finite score or map, failed or timed-out call):
            counted, left out of results.
        error_items: The first frame errors with reasons.
        streams: One entry per source: name, source, frames, anomalous, fps, e2e p50/p95/p99, dropped,
            skipped, frame_errors, reconnects, source_lost.
        batch: Frames per inference call the model was compiled for.
        batch_sizes: Calls made, by the number of frames they held.
        publish: The publisher's delivery counters (MQTT), if any.
    """

    bundle: str
    source: str
    device: str
    precision: str
    frames: int
    anomalous: int
    fps: float
    wall_s: float
    warmup_frames: int
    latency_ms: dict[str, Any]
    dropped: int
    skipped: int
    reconnects: int
    source_lost: bool
    stopped_by: str
    peak_rss_mb: float
    jobs: int
    compile_s: float
    skipped_items: list[str] = field(default_factory=list)
    frame_errors: int = 0
    error_items: list[str] = field(default_factory=list)
    streams: list[dict[str, Any]] = field(default_factory=list)
    batch: int = 1
    batch_sizes: dict[str, int] = field(default_factory=dict)
    publish: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)
