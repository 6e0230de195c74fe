"""Many cameras in one process against one process per camera (issue 10), side by side in one run.

Every configuration runs in fresh processes on copies of the same video (the 512 px demo video,
looped to ``--frames`` frames and written losslessly, so every stream decodes the same frames):

* ``1proc_Kstreams`` for K in --streams: one ``edgekit.runtime.run`` with K sources, batch auto;
* ``Kproc_1stream``: K processes with one source each, started together (what a second camera
  costs without edgekit's multiplexing); aggregate fps is the sum of their fps, RSS the sum of
  their peaks.

Reported per configuration: aggregate frames/s (warm-up excluded), per-stream e2e p50/p99, the
batch sizes actually formed, peak RSS; and the ratios of the issue's targets. Repetitions alternate
the configurations and the medians are reported.

    .venv/bin/python benchmarks/streams.py --bundle build/bench/bundle_int8 --out build/bench/streams.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CHILD = r"""
import json, sys
from edgekit.runtime import run
from edgekit.perf import peak_rss_mb
bundle, warmup, batch = sys.argv[1], int(sys.argv[2]), sys.argv[3]
videos = sys.argv[4:]
report = run(bundle, [f"s{i}={v}" for i, v in enumerate(videos)], warmup=warmup,
             batch=batch if batch == "auto" else int(batch))
print(json.dumps({
    "fps": report.fps, "frames": report.frames, "batch": report.batch, "batch_sizes": report.batch_sizes,
    "streams": [{"name": s["name"], "fps": s["fps"], "e2e_ms": s["e2e_ms"], "frames": s["frames"]}
                for s in report.streams],
    "peak_rss_mb": round(peak_rss_mb(), 1), "wall_s": report.wall_s,
}))
"""


def loop_video(source: Path, frames: int, out: Path) -> Path:
    """``source`` looped to ``frames`` frames, written losslessly (FFV1) to ``out``."""
    import cv2

    cap = cv2.VideoCapture(str(source))
    images = []
    while True:
        ok, image = cap.read()
        if not ok:
            break
        images.append(image)
    cap.release()
    if not images:
        raise SystemExit(f"no frames in {source}")
    h, w = images[0].shape[:2]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"FFV1"), 25.0, (w, h))
    for i in range(frames):
        writer.write(images[i % len(images)])
    writer.release()
    return out


def _start(bundle: Path, videos: list[Path], warmup: int, batch: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-c", CHILD, str(bundle), str(warmup), batch, *map(str, videos)]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _result(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"child failed ({proc.returncode}): {err.strip().splitlines()[-1:]}")
    return json.loads(out.strip().splitlines()[-1])


def one_process(bundle: Path, videos: list[Path], warmup: int, batch: str) -> dict[str, Any]:
    r = _result(_start(bundle, videos, warmup, batch))
    p50 = [s["e2e_ms"]["p50"] for s in r["streams"]]
    p99 = [s["e2e_ms"]["p99"] for s in r["streams"]]
    return {
        "aggregate_fps": r["fps"],
        "peak_rss_mb": r["peak_rss_mb"],
        "batch": r["batch"],
        "batch_sizes": r["batch_sizes"],
        "e2e_p50_ms": round(statistics.median(p50), 1),
        "e2e_p99_ms": round(max(p99), 1),
        "p99_over_p50": round(max(b / a for a, b in zip(p50, p99, strict=True) if a > 0), 2),
    }


def many_processes(bundle: Path, videos: list[Path], warmup: int) -> dict[str, Any]:
    procs = [_start(bundle, [v], warmup, "1") for v in videos]
    results = [_result(p) for p in procs]
    return {
        "aggregate_fps": round(sum(r["fps"] for r in results), 3),
        "peak_rss_mb": round(sum(r["peak_rss_mb"] for r in results), 1),
        "e2e_p50_ms": round(statistics.median(r["streams"][0]["e2e_ms"]["p50"] for r in results), 1),
        "e2e_p99_ms": round(max(r["streams"][0]["e2e_ms"]["p99"] for r in results), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, default=Path("build/bench/bundle_int8"))
    parser.add_argument("--video", type=Path, help="default: the demo video next to the bundle's data")
    parser.add_argument("--streams", default="1,2,4,8")
    parser.add_argument("--processes", type=int, default=4, help="K of the K-processes comparison")
    parser.add_argument("--frames", type=int, default=120, help="frames per stream")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", default="auto", help="frames per call in the one-process runs: auto or K")
    parser.add_argument("--work", type=Path, default=Path("build/bench/streams"))
    parser.add_argument("--out", type=Path, default=Path("build/bench/streams.json"))
    args = parser.parse_args()
    from edgekit.artifacts.manifest import EnsembleManifest
    from edgekit.bench.suite import machine

    manifest = EnsembleManifest.load(args.bundle)
    video = args.video
    if video is None:
        data = Path(manifest.source["data"])
        video = data / json.loads((data / "stream.json").read_text())["video"]
    args.work.mkdir(parents=True, exist_ok=True)
    counts = [int(k) for k in args.streams.split(",")]
    n_videos = max([*counts, args.processes])
    looped = loop_video(video, args.frames, args.work / "looped.avi")
    videos = [looped] * n_videos  # each stream opens and decodes the file on its own
    info = machine()
    runs: dict[str, list[dict[str, Any]]] = {}
    for rep in range(args.repeats):
        for k in counts:
            result = one_process(args.bundle, videos[:k], args.warmup, args.batch)
            runs.setdefault(f"1proc_{k}streams", []).append(result)
            print(f"rep {rep} 1proc_{k}streams: {runs[f'1proc_{k}streams'][-1]}", flush=True)
        name = f"{args.processes}proc_1stream"
        runs.setdefault(name, []).append(many_processes(args.bundle, videos[: args.processes], args.warmup))
        print(f"rep {rep} {name}: {runs[name][-1]}", flush=True)
    medians = {
        name: {
            key: (statistics.median(r[key] for r in rs) if isinstance(rs[0][key], (int, float)) else rs[-1][key])
            for key in rs[0]
        }
        for name, rs in runs.items()
    }
    k = args.processes
    one, many, single = medians.get(f"1proc_{k}streams"), medians[f"{k}proc_1stream"], medians.get("1proc_1streams")
    ratios = {}
    if one:
        ratios[f"1proc_{k}streams_vs_{k}proc_fps"] = round(one["aggregate_fps"] / many["aggregate_fps"], 3)
        ratios[f"1proc_{k}streams_vs_{k}proc_rss"] = round(one["peak_rss_mb"] / many["peak_rss_mb"], 3)
        if single:
            ratios[f"1proc_{k}streams_vs_1stream_fps"] = round(one["aggregate_fps"] / single["aggregate_fps"], 3)
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": info,
        "setup": {
            "bundle": str(args.bundle),
            "model": manifest.model,
            "grid": str(manifest.grid),
            "precision": manifest.precision,
            "video": str(video),
            "frames_per_stream": args.frames,
            "warmup": args.warmup,
            "repeats": args.repeats,
            "batch": args.batch,
        },
        "medians": medians,
        "ratios": ratios,
        "targets": {
            "aggregate_vs_processes": ">= 1.2",
            "rss_vs_processes": "<= 0.4",
            "aggregate_vs_one_stream": ">= 0.95",
            "p99_over_p50": "<= 2",
        },
        "runs": runs,
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"medians": medians, "ratios": ratios}, indent=2))


if __name__ == "__main__":
    main()
