"""One definition of frames/s and latency for every benchmark mode.

* ``fps``: steady state with the pipeline full. The results that complete after the warm-up-th
  result, divided by the time from the warm-up-th result to the last one. Compiling, filling the
  pipeline and the warm-up frames stay out; so does the tail of a mode that returns results late.
* ``latency``: from the moment a mode takes a frame (a request is free for it) to its result,
  per frame, the warm-up frames (by frame index) left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from edgekit.errors import ConfigError
from edgekit.perf import LatencyStats, peak_rss_mb


def steady_fps(done_ns: Sequence[int], warmup: int, start_ns: int) -> float:
    """Results per second after the warm-up-th result.

    Args:
        done_ns: ``perf_counter_ns`` at each result, in any order.
        warmup: Results left out at the start.
        start_ns: When the first frame was taken: the reference when ``warmup`` is 0.

    Returns:
        ``(n - warmup) / (t_last - t_warmup)`` (0.0 when no result is measured).

    Raises:
        ConfigError: A negative ``warmup``.
    """
    if warmup < 0:
        msg = f"warmup {warmup} is out of range; accepted: >= 0"
        raise ConfigError(msg)
    done = sorted(done_ns)
    measured = len(done) - warmup
    if measured < 1:
        return 0.0
    reference = done[warmup - 1] if warmup > 0 else start_ns
    span_s = (done[-1] - reference) / 1e9
    return measured / span_s if span_s > 0 else 0.0


def latency(samples_ms: Sequence[float], warmup: int) -> dict[str, float]:
    """p50/p95/p99/mean milliseconds of per-frame latencies, the first ``warmup`` frames left out."""
    stats = LatencyStats.from_ms(list(samples_ms), warmup=min(warmup, max(0, len(samples_ms) - 1)))
    return {
        "p50": round(stats.p50_ms, 2),
        "p95": round(stats.p95_ms, 2),
        "p99": round(stats.p99_ms, 2),
        "mean": round(stats.mean_ms, 2),
    }


def summary(
    latencies_ms: Sequence[float], done_ns: Sequence[int], warmup: int, start_ns: int, **extra: Any
) -> dict[str, Any]:
    """What a mode prints: fps, latency, measured frames, peak RSS, and any mode-specific figures.

    Args:
        latencies_ms: Per-frame latency in frame order.
        done_ns: ``perf_counter_ns`` at each result.
        warmup: Warm-up frames.
        start_ns: When the first frame was taken.
        **extra: Added to the result as they are.

    Returns:
        The JSON-ready figures.
    """
    return {
        "fps": round(steady_fps(done_ns, warmup, start_ns), 3),
        "latency_ms": latency(latencies_ms, warmup),
        "frames": max(0, len(done_ns) - warmup),
        "warmup": min(warmup, len(done_ns)),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        **extra,
    }
