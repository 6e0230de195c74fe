"""Process memory and latency statistics shared by every stage (standard library and numpy only)."""

from __future__ import annotations

import resource
import sys
from dataclasses import dataclass

import numpy as np


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB.

    On Linux this is ``VmHWM`` from ``/proc/self/status``: ``ru_maxrss`` survives ``exec``, so a
    benchmark worker started from a large parent would report the parent's peak as its own.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:  # noqa: PTH123 - tiny procfs read
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes
    return peak / 1024.0 if sys.platform != "darwin" else peak / (1024.0 * 1024.0)


def current_rss_mb() -> float:
    """Current resident set size of this process, in MiB (Linux /proc, else the peak)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:  # noqa: PTH123 - tiny procfs read
            pages = int(f.read().split()[1])
    except OSError:
        return peak_rss_mb()
    return pages * resource.getpagesize() / (1024.0 * 1024.0)


@dataclass(frozen=True)
class LatencyStats:
    """Summary of a series of durations in milliseconds, with warm-up excluded.

    Attributes:
        count: Measured samples.
        warmup: Samples dropped as warm-up.
        mean_ms: Mean.
        p50_ms: Median.
        p95_ms: 95th percentile.
        p99_ms: 99th percentile.
        max_ms: Maximum.
    """

    count: int
    warmup: int
    mean_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def from_ms(cls, samples_ms: list[float] | np.ndarray, warmup: int = 0) -> LatencyStats:
        """Summarize durations (ms), dropping the first ``warmup`` samples.

        Args:
            samples_ms: Durations in milliseconds, in the order they were taken.
            warmup: Leading samples to exclude.

        Returns:
            The statistics (zeros when nothing is left to measure).
        """
        data = np.asarray(samples_ms, dtype=np.float64)[warmup:]
        if data.size == 0:
            return cls(0, warmup, 0.0, 0.0, 0.0, 0.0, 0.0)
        p50, p95, p99 = np.percentile(data, [50, 95, 99])
        return cls(int(data.size), warmup, float(data.mean()), float(p50), float(p95), float(p99), float(data.max()))

    def to_dict(self) -> dict[str, float | int]:
        """JSON-ready form, values rounded to microseconds."""
        return {
            "count": self.count,
            "warmup": self.warmup,
            "mean": round(self.mean_ms, 3),
            "p50": round(self.p50_ms, 3),
            "p95": round(self.p95_ms, 3),
            "p99": round(self.p99_ms, 3),
            "max": round(self.max_ms, 3),
        }
