"""One benchmark mode in its own process: prints one JSON object (fps, latency, peak RSS) on stdout.

Every mode runs on the frames the parent stored (:mod:`edgekit.bench.frames`) and is timed by
:mod:`edgekit.bench.timing`: fps in steady state after the warm-up results, latency from the moment
the mode takes a frame to its result.

Modes:
    bound               pure inference of the bundle's stored IR, specialized as the runtime loads it
                        (raw uint8 BGR frames in), on pre-decoded frames with an AsyncInferQueue:
                        benchmark_app's method, nothing in Python per frame but ``start_async``
    edgekit             the full streaming runtime decoding the stored lossless clip (capture thread,
                        prep, async inference, boxes, frame order), as ``edgekit run`` on a video file
    edgekit_predecoded  the same runtime fed the pre-decoded frames from memory: its own overhead
                        without video decoding
    edgekit_fp32        the runtime on the FP32 bundle, pre-decoded frames
    naive               one FP32 IR per tile position, run one after another synchronously, numpy
                        preprocessing per tile (what exporting each anomalib tile model and its
                        OpenVINOInferencer gives), pre-decoded frames
    anomalib            the per-position anomalib models in PyTorch, each with its own backbone copy,
                        tiled with anomalib's EnsembleTiler and joined like its tiled ensemble (mean of
                        tile scores), pre-decoded frames
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.bench.timing import latency, summary
from edgekit.errors import EdgekitError

MODES = ("bound", "edgekit", "edgekit_predecoded", "edgekit_fp32", "naive", "anomalib")
#: Modes fed frames from memory (the rest decode the stored clip).
PREDECODED = ("bound", "edgekit_predecoded", "edgekit_fp32", "naive", "anomalib")


def bound(bundle: Path, frames: np.ndarray, warmup: int, device: str) -> dict[str, Any]:
    """Async inference of pre-decoded frames on the runtime's compiled model: the runtime's ceiling."""
    import openvino as ov

    from edgekit.devices import PerformanceHint
    from edgekit.runtime.engine import Engine

    engine = Engine(bundle, device, hint=PerformanceHint.THROUGHPUT)
    queue = ov.AsyncInferQueue(engine.compiled, 0)  # 0: the device's optimal number of requests
    inputs = [frames[i : i + 1] for i in range(len(frames))]  # contiguous [1, H, W, 3] views, no copies
    taken = [0] * len(inputs)
    done = [0] * len(inputs)

    def finished(_request: Any, i: int) -> None:
        done[i] = time.perf_counter_ns()

    queue.set_callback(finished)
    start = time.perf_counter_ns()
    for i, x in enumerate(inputs):
        queue.get_idle_request_id()  # wait for a free request (GIL released), so latency starts when one is
        taken[i] = time.perf_counter_ns()
        queue.start_async({0: x}, userdata=i, share_inputs=True)
    queue.wait_all()
    lat = [(d - t) / 1e6 for t, d in zip(taken, done, strict=True)]
    return summary(lat, done, warmup, start, jobs=len(queue))


def runtime(
    bundle: Path, source: Path, frames: np.ndarray | None, warmup: int, device: str, streams: int = 1
) -> dict[str, Any]:
    """The full runtime: the stored clip decoded by its capture thread, or the frames from memory.

    With ``streams`` > 1 the same frames play as that many sources through one compiled model
    (``--batch auto``), and fps is the aggregate over all streams.

    Args:
        bundle: The bundle.
        source: The clip (``frames`` None), or the ``.npy`` the frames came from (names the source).
        frames: Pre-decoded frames, played by :class:`~edgekit.bench.frames.MemoryVideo`; None to decode.
        warmup: Warm-up frames.
        device: Device.
        streams: Sources played at once.
    """
    from edgekit.bench.frames import MemoryVideo
    from edgekit.devices import PerformanceHint, auto_batch
    from edgekit.runtime.engine import Engine
    from edgekit.runtime.report import StageTimes
    from edgekit.runtime.sources import Capture
    from edgekit.runtime.stream import Stream

    engine = Engine(bundle, device, hint=PerformanceHint.THROUGHPUT, batch=auto_batch(device, streams))
    if frames is None:
        captures = [(f"s{i}", Capture(str(source))) for i in range(streams)]
    else:
        captures = [
            (f"s{i}", Capture(str(source), opener=lambda _target: MemoryVideo(frames))) for i in range(streams)
        ]
    stream = Stream(engine, captures)
    times = StageTimes()
    lat, e2e, done = [], [], []
    start = time.perf_counter_ns()
    for result in stream:
        done.append(time.perf_counter_ns())
        lat.append(result.timings_ms["process"])  # taken from the capture queue -> result
        e2e.append(result.timings_ms["e2e"])  # read from the source -> result
        times.add(result)
    warmup *= streams  # each stream warms up: the measured results are frames x streams
    return summary(
        lat,
        done,
        warmup,
        start,
        latency_capture_to_result_ms=latency(e2e, warmup),
        stages_p50_ms={k: v["p50"] for k, v in times.stats(warmup).items()},
        jobs=stream.jobs,
        skipped=sum(c.stats.skipped for _, c in captures) + stream.skipped_frames,
        frame_errors=stream.frame_errors,
        streams=streams,
        batch=engine.batch,
        batch_sizes={str(k): v for k, v in sorted(stream.batch_sizes.items())},
    )


def naive(positions: Path, bundle: Path, frames: np.ndarray, warmup: int, device: str) -> dict[str, Any]:
    """One FP32 IR per position, one after another, synchronous, numpy preprocessing per tile."""
    import openvino as ov

    from edgekit.artifacts.manifest import EnsembleManifest
    from edgekit.tiling import coverage_groups, join_score, tile, untile

    manifest = EnsembleManifest.load(bundle, verify=False)
    grid = manifest.grid
    reference = manifest.join.z_reference or None
    # a PaDiM features bundle fits one group (every view of a pixel is one value); the manifest says so by
    # its reference's length, and one group of the grid's boxes samples the same pixels as the whole frame
    groups = coverage_groups(grid, single=reference is not None and len(reference) == 1)
    core = ov.Core()
    models = [
        core.compile_model(str(positions / f"p{p:02d}.xml"), device, {"INFERENCE_PRECISION_HINT": "f32"})
        for p in range(grid.n_tiles)
    ]
    requests = [m.create_infer_request() for m in models]
    mean = np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1)
    std = np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1)
    lat, done = [], []
    start = time.perf_counter_ns()
    for frame in frames:
        t0 = time.perf_counter_ns()
        maps = []
        for p, t in enumerate(tile(grid, frame)):
            x = (t[None, :, :, ::-1].transpose(0, 3, 1, 2).astype(np.float32) / 255.0 - mean) / std
            maps.append(requests[p].infer({0: x})[models[p].outputs[0]][0])
        joined = untile(grid, np.stack(maps), manifest.join.weights)
        join_score(joined, np.stack(maps), manifest.join.score_rule, groups, reference)
        done.append(time.perf_counter_ns())
        lat.append((done[-1] - t0) / 1e6)
    return summary(lat, done, warmup, start)


def anomalib_mode(run: Path, frames: np.ndarray, warmup: int) -> dict[str, Any]:
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
    lat, done = [], []
    start = time.perf_counter_ns()
    with torch.no_grad():
        for frame in frames:
            t0 = time.perf_counter_ns()
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
            done.append(time.perf_counter_ns())
            lat.append((done[-1] - t0) / 1e6)
    return summary(lat, done, warmup, start)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the mode ``args`` name on the stored frames."""
    if args.mode == "edgekit":
        return runtime(args.bundle, args.clip, None, args.warmup, args.device, args.streams)
    frames = np.load(args.frames_file)  # all in memory before any timing starts
    if args.mode in ("edgekit_predecoded", "edgekit_fp32"):
        return runtime(args.bundle, args.frames_file, frames, args.warmup, args.device, args.streams)
    if args.mode == "bound":
        return bound(args.bundle, frames, args.warmup, args.device)
    if args.mode == "naive":
        return naive(args.positions, args.bundle, frames, args.warmup, args.device)
    return anomalib_mode(args.run, frames, args.warmup)


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m edgekit.bench.worker``: the result on stdout, a failure as one stderr line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=MODES)
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--frames-file", type=Path, required=True, help="The stored frames (.npy).")
    parser.add_argument("--clip", type=Path, required=True, help="The same frames as a lossless clip.")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--device", default="CPU")
    parser.add_argument("--run", type=Path, help="Training run (anomalib mode).")
    parser.add_argument("--positions", type=Path, help="Per-position IRs (naive mode).")
    parser.add_argument("--streams", type=int, default=1, help="Sources at once (runtime modes).")
    args = parser.parse_args(argv)
    try:
        result = run(args)
    except EdgekitError as error:
        print(f"{args.mode}: {error}", file=sys.stderr)
        raise SystemExit(error.exit_code) from None
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
