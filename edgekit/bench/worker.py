"""One benchmark mode in its own process: prints one JSON object (fps, latency, peak RSS) on stdout.

Modes:
    bound         pure inference of the fused bundle on pre-tiled frames, AsyncInferQueue (benchmark_app's method)
    edgekit       the full streaming runtime (capture, tile, infer, join, post) on the bundle
    edgekit_fp32  the same runtime on the FP32 bundle
    naive         one FP32 IR per tile position, run one after another synchronously, numpy preprocessing
                  per tile (what exporting each anomalib tile model and its OpenVINOInferencer gives)
    anomalib      the per-position anomalib models in PyTorch, each with its own backbone copy, tiled with
                  anomalib's EnsembleTiler and joined like its tiled ensemble (mean of tile scores)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgekit.perf import LatencyStats, peak_rss_mb


def read_frames(video: Path, count: int) -> list[np.ndarray]:
    """The first ``count`` frames of a video (looping if it is shorter)."""
    cap = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    if not frames:
        msg = f"video {video} has no readable frames"
        raise SystemExit(msg)
    return [frames[i % len(frames)] for i in range(count)]


def _summary(latencies_ms: list[float], warmup: int, wall_s: float, frames: int, **extra: Any) -> dict[str, Any]:
    stats = LatencyStats.from_ms(latencies_ms, warmup=warmup)
    return {
        "fps": round(frames / wall_s, 3) if wall_s > 0 else 0.0,
        "latency_ms": {"p50": round(stats.p50_ms, 2), "p95": round(stats.p95_ms, 2), "p99": round(stats.p99_ms, 2)},
        "frames": frames,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        **extra,
    }


def bound(bundle: Path, frames: list[np.ndarray], warmup: int, device: str) -> dict[str, Any]:
    """Async inference of pre-tiled frames: the upper bound of the runtime."""
    import openvino as ov

    from edgekit.runtime.engine import Engine

    engine = Engine(bundle, device, hint="THROUGHPUT")
    tiles = [engine.tile_into(f) for f in frames]
    queue = ov.AsyncInferQueue(engine.compiled, 0)
    starts: dict[int, int] = {}
    lat: dict[int, float] = {}

    def done(_request: Any, i: int) -> None:
        lat[i] = (time.perf_counter_ns() - starts[i]) / 1e6

    queue.set_callback(done)
    for i in range(warmup):
        starts[i] = time.perf_counter_ns()
        queue.start_async({0: tiles[i]}, userdata=i, share_inputs=True)
    queue.wait_all()
    t0 = time.perf_counter()
    for i in range(warmup, len(tiles)):
        starts[i] = time.perf_counter_ns()
        queue.start_async({0: tiles[i]}, userdata=i, share_inputs=True)
    queue.wait_all()
    wall = time.perf_counter() - t0
    ordered = [lat[i] for i in range(len(tiles))]
    return _summary(ordered, warmup, wall, len(tiles) - warmup, jobs=len(queue))


def runtime(bundle: Path, video: Path, count: int, warmup: int, device: str) -> dict[str, Any]:
    """The full runtime on the video (capture thread, tiling, async inference, join, post)."""
    from edgekit.runtime import run

    report = run(bundle, str(video), device=device, max_frames=count, warmup=warmup)
    e2e = report.latency_ms.get("process", {})
    return {
        "fps": report.fps,
        "latency_ms": {k: e2e.get(k, 0.0) for k in ("p50", "p95", "p99")},
        "latency_capture_to_result_ms": {
            k: report.latency_ms.get("e2e", {}).get(k, 0.0) for k in ("p50", "p95", "p99")
        },
        "stages_p50_ms": {k: v["p50"] for k, v in report.latency_ms.items()},
        "frames": report.frames - report.warmup_frames,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "jobs": report.jobs,
    }


def naive(run: Path, bundle: Path, frames: list[np.ndarray], warmup: int, device: str) -> dict[str, Any]:
    """One FP32 IR per position, one after another, synchronous, numpy preprocessing per tile."""
    import openvino as ov

    from edgekit.artifacts.manifest import EnsembleManifest
    from edgekit.tiling import join_score, tile, untile

    manifest = EnsembleManifest.load(bundle, verify=False)
    grid = manifest.grid
    folder = run / "graph" / "positions"
    core = ov.Core()
    models = [
        core.compile_model(str(folder / f"p{p:02d}.xml"), device, {"INFERENCE_PRECISION_HINT": "f32"})
        for p in range(grid.n_tiles)
    ]
    requests = [m.create_infer_request() for m in models]
    mean = np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1)
    std = np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1)
    lat = []
    t0 = time.perf_counter()
    for i, frame in enumerate(frames):
        if i == warmup:
            t0 = time.perf_counter()
        start = time.perf_counter_ns()
        maps = []
        for p, t in enumerate(tile(grid, frame)):
            x = (t[None, :, :, ::-1].transpose(0, 3, 1, 2).astype(np.float32) / 255.0 - mean) / std
            maps.append(requests[p].infer({0: x})[models[p].outputs[0]][0])
        joined = untile(grid, np.stack(maps))
        join_score(joined)
        lat.append((time.perf_counter_ns() - start) / 1e6)
    wall = time.perf_counter() - t0
    return _summary(lat, warmup, wall, len(frames) - warmup)


def anomalib_mode(run: Path, frames: list[np.ndarray], warmup: int) -> dict[str, Any]:
    """Anomalib's tiled ensemble predicting: N whole anomalib models, EnsembleTiler, mean of tile scores.

    Each position is rebuilt as anomalib builds it: its own model class with its own full backbone
    (anomalib's TimmFeatureExtractor runs every block; edgekit's shared trunk stops at the last layer
    it reads), pretrained weights loaded, then the position's fitted or trained state from the run.
    """
    import torch
    from anomalib.pipelines.tiled_ensemble.components.utils.ensemble_tiling import EnsembleTiler
    from safetensors.torch import load_file

    from edgekit.artifacts.record import TrainingRecord
    from edgekit.train.backbones import load_into_features_only
    from edgekit.train.ensemble import to_input
    from edgekit.train.families import family_for
    from edgekit.train.run_io import config_from_record

    record = TrainingRecord.load(run)
    config = config_from_record(record, run)
    family = family_for(config)
    models = []
    for entry in record.positions:
        model = family.new_model()
        load_into_features_only(family.trunk_of(model), config.backbone, config.weights)
        model.load_state_dict(load_file(str(run / entry.path)), strict=False)
        models.append(model.eval())
    grid = record.grid
    tiler = EnsembleTiler(tile_size=grid.tile_hw, stride=grid.stride_hw, image_size=grid.image_hw)
    n_cols = grid.grid_hw[1]
    lat = []
    t0 = time.perf_counter()
    with torch.no_grad():
        for i, frame in enumerate(frames):
            if i == warmup:
                t0 = time.perf_counter()
            start = time.perf_counter_ns()
            x = to_input(frame[None])  # [1, 3, H, W]
            scores, tile_maps = [], []
            for p, model in enumerate(models):
                tiles = tiler.tile(x)  # anomalib tiles the whole image again for every position
                t = tiles[p // n_cols, p % n_cols]
                feats = family.features(family.trunk_of(model), t)
                amap, score = family.predict(model, feats, t)
                tile_maps.append(amap)
                scores.append(float(score.reshape(-1)[0]))
            stacked = torch.stack(tile_maps).reshape(*grid.grid_hw, 1, 1, *grid.tile_hw)
            tiler.untile(stacked)
            _ = sum(scores) / len(scores)  # anomalib's merged score: mean of tile scores
            lat.append((time.perf_counter_ns() - start) / 1e6)
    wall = time.perf_counter() - t0
    return _summary(lat, warmup, wall, len(frames) - warmup)


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m edgekit.bench.worker``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["bound", "edgekit", "edgekit_fp32", "naive", "anomalib"])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--run", type=Path)
    parser.add_argument("--video", type=Path, required=True)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--device", default="CPU")
    args = parser.parse_args(argv)
    total = args.frames + args.warmup
    if args.mode in ("edgekit", "edgekit_fp32"):
        result = runtime(args.bundle, args.video, total, args.warmup, args.device)
    else:
        frames = read_frames(args.video, total)
        if args.mode == "bound":
            result = bound(args.bundle, frames, args.warmup, args.device)
        elif args.mode == "naive":
            result = naive(args.run, args.bundle, frames, args.warmup, args.device)
        else:
            result = anomalib_mode(args.run, frames, args.warmup)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
