"""Runtime benchmark (issue 5): the full streaming runtime against the pure-inference bound, and a soak test.

Part 1 runs ``bound``, ``edgekit_predecoded`` and ``edgekit`` (see ``edgekit.bench.worker``) in turn,
each in its own process, on the same stored frames (the demo video, or ``--source``) with the same
bundle; medians over the repeats. The target is the runtime on pre-decoded frames at >= 0.9x the bound.
Part 2 streams at least 10,000 frames through the runtime (the stored frames looped in memory, so
that nothing is dropped and no disk is needed) and samples RSS, to show memory stays flat.

    .venv/bin/python benchmarks/runtime_bench.py --bundle build/demo/bundle --json build/bench/runtime.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgekit.bench.inputs import prepare
from edgekit.bench.suite import run_mode
from edgekit.perf import current_rss_mb

MODES = ("bound", "edgekit_predecoded", "edgekit")


class LoopingVideo:
    """A cv2.VideoCapture stand-in that replays frames in memory, ``total`` frames in all."""

    def __init__(self, frames: np.ndarray, total: int) -> None:
        self.frames, self.total, self.i = frames, total, 0

    def isOpened(self) -> bool:
        return True

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self.i >= self.total:
            return False, None
        frame = self.frames[self.i % len(self.frames)]
        self.i += 1
        return True, frame

    def get(self, prop: int) -> float:
        if prop == cv2.CAP_PROP_FRAME_COUNT:
            return float(self.total)
        if prop == cv2.CAP_PROP_POS_MSEC:
            return self.i * 100.0
        return 0.0

    def release(self) -> None:
        pass


def soak(bundle: Path, array: Path, total: int, every: int) -> dict[str, Any]:
    from edgekit.devices import PerformanceHint
    from edgekit.runtime.engine import Engine
    from edgekit.runtime.sources import Capture
    from edgekit.runtime.stream import Stream

    frames = np.load(array)
    engine = Engine(bundle, "CPU", hint=PerformanceHint.THROUGHPUT)
    capture = Capture(str(array), opener=lambda _target: LoopingVideo(frames, total))
    stream = Stream(engine, capture)
    samples = []
    t0 = time.perf_counter()
    n = 0
    for n, _result in enumerate(stream, start=1):
        if n % every == 0 or n == 1:
            samples.append(
                {"frame": n, "rss_mb": round(current_rss_mb(), 1), "t_s": round(time.perf_counter() - t0, 1)}
            )
    wall = time.perf_counter() - t0
    rss = np.array([s["rss_mb"] for s in samples])
    frame_no = np.array([s["frame"] for s in samples], dtype=float)
    steady = frame_no >= frame_no.max() * 0.2  # after warm-up
    slope = float(np.polyfit(frame_no[steady], rss[steady], 1)[0] * 1000) if steady.sum() >= 2 else 0.0
    return {
        "frames": n,
        "wall_s": round(wall, 1),
        "fps": round(n / wall, 2),
        "rss_first_mb": float(rss[0]),
        "rss_steady_min_mb": float(rss[steady].min()),
        "rss_steady_max_mb": float(rss[steady].max()),
        "rss_slope_mb_per_1k_frames": round(slope, 3),
        "samples": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--soak-bundle", type=Path, help="Bundle for the soak (default: --bundle).")
    parser.add_argument(
        "--source", help="Video, image folder or camera (default: the demo video of the bundle's data)."
    )
    parser.add_argument("--work", type=Path, default=Path("build/bench/runtime"), help="Where the frames are stored.")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--soak-frames", type=int, default=10_000)
    parser.add_argument("--json", type=Path, default=Path("build/bench/runtime.json"))
    args = parser.parse_args()
    count = args.frames + args.warmup
    inputs = prepare(args.bundle, args.work, source=args.source, modes=MODES, count=count, progress=False)
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    for _ in range(args.repeats):
        for mode in runs:
            result = run_mode(mode, inputs, args.warmup, "CPU")
            if "failed" in result:
                raise SystemExit(f"mode {mode} failed: {result['failed']}")
            runs[mode].append(result)
    med = {
        mode: {
            "fps": statistics.median(r["fps"] for r in rs),
            "p50": statistics.median(r["latency_ms"]["p50"] for r in rs),
            "p95": statistics.median(r["latency_ms"]["p95"] for r in rs),
            "p99": statistics.median(r["latency_ms"]["p99"] for r in rs),
            "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in rs),
        }
        for mode, rs in runs.items()
    }
    ratio = med["edgekit_predecoded"]["fps"] / med["bound"]["fps"]
    video_ratio = med["edgekit"]["fps"] / med["bound"]["fps"]
    tail = med["edgekit_predecoded"]["p99"] / med["edgekit_predecoded"]["p50"]
    for mode in MODES:
        print(f"{mode:<18} {med[mode]['fps']:.2f} fps  p50 {med[mode]['p50']:.1f} ms  p99 {med[mode]['p99']:.1f} ms")
    print(
        f"edgekit_predecoded/bound fps {ratio:.3f} (target >= 0.9); p99/p50 {tail:.2f} (target <= 1.5); "
        f"edgekit (decoding, {inputs.frames.clip_decode_ms:.1f} ms/frame)/bound {video_ratio:.3f}"
    )
    load_avg = os.getloadavg()[0]
    soak_bundle = args.soak_bundle or args.bundle
    soak_result = soak(soak_bundle, inputs.frames.array, args.soak_frames, every=max(1, args.soak_frames // 40))
    print(
        f"soak: {soak_result['frames']} frames at {soak_result['fps']} fps; RSS {soak_result['rss_first_mb']:.0f} MiB "
        f"at frame 1, {soak_result['rss_steady_min_mb']:.0f}-{soak_result['rss_steady_max_mb']:.0f} MiB after warm-up, "
        f"slope {soak_result['rss_slope_mb_per_1k_frames']:+.2f} MiB per 1000 frames"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "load_avg_1m": load_avg,
                "runs": runs,
                "median": med,
                "edgekit_predecoded_vs_bound": round(ratio, 3),
                "edgekit_vs_bound": round(video_ratio, 3),
                "edgekit_predecoded_p99_over_p50": round(tail, 3),
                "frames_stored": inputs.frames.to_dict(),
                "soak": soak_result,
                "frames": args.frames,
                "warmup": args.warmup,
                "repeats": args.repeats,
                "bundle": str(args.bundle),
                "soak_bundle": str(args.soak_bundle or args.bundle),
            },
            indent=2,
        )
    )
    print(f"written {args.json}")


if __name__ == "__main__":
    main()
