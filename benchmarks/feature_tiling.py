"""``--tiling features`` against ``--tiling image`` (issue 13): trunk time, frame latency, quality, seams.

For every category and model, both tilings are trained the same way (`edgekit train`, 3x3 tiles of 256
on 512, lite0, thresholds from held-out images) and measured on the same test frames:

* quality: image AUROC and pixel AUPRO on the test split (edgekit.evaluation), and the seam ratio on
  good test images: the mean step across the grid's interior tile edges (rows and columns 128, 256,
  384) over the mean step across the midlines between them (64, 192, 320, 448); about 1 = no seam.
  The older all-pixel reference is kept as ``seam_ratio_x_all_pixels`` (1.2-1.3 on lines without
  any tile edge on the wide set: the feature grid's own steps). ``--rescore`` re-measures quality
  of trained cells;
* speed: the FP32 whole-frame graph (``RUN/graph/frame.xml``) compiled on the CPU in f32 with the
  LATENCY hint and per-node profiling. Frame latency is the median of ``--reps`` synchronous calls.
  Trunk time is the median per call of the trunk's convolutions in OpenVINO's profile: every
  (Group)Convolution except the map blurs, the only convolutions outside the trunk. ``--speed-only``
  re-measures the speed of every trained cell, the two tilings of a category alternating call by call.

``--epochs N`` trains STFPM, FastFlow and Reverse Distillation for N epochs instead of their default
(20), for a like-for-like comparison of the two tilings on a smaller budget; such cells are keyed and
stored apart (``...|epochsN``).

    .venv/bin/python benchmarks/feature_tiling.py --out build/bench/feature_tiling.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EDGEKIT = Path(sys.executable).with_name("edgekit")
DEFAULT_CATEGORIES = "demo/coffee,wide/tissue,wide/cat,wide/coins,wide/logo"


def data_root(name: str, demo: Path, wide: Path) -> Path:
    kind, category = name.split("/", 1)
    return (demo if kind == "demo" else wide) / category


def cell(name: str, model: str, tiling: str, epochs: int) -> str:
    """A cell's key in the JSON (and its run folder's name): category, model, tiling, epochs if not default."""
    return f"{name}|{model}|{tiling}" + (f"|epochs{epochs}" if epochs else "")


def train(data: Path, out: Path, model: str, tiling: str, extra: list[str]) -> float:
    t0 = time.perf_counter()
    command = [str(EDGEKIT), "train", "--data", str(data), "--out", str(out), "--model", model, "--tiling", tiling]
    subprocess.run([*command, "--no-progress", *extra], check=True, capture_output=True, text=True)
    return time.perf_counter() - t0


def quality(run: Path, data: Path) -> tuple[dict[str, float], np.ndarray]:
    from edgekit.data import load_split, scan_dataset
    from edgekit.evaluation import aupro, auroc, seam_ratio
    from edgekit.train.infer import predict_frames
    from edgekit.train.run_io import load_run

    record, ensemble = load_run(run)
    grid = record.grid
    test = load_split(scan_dataset(data).test, grid.image_hw, min_hw=grid.tile_hw, what="test")
    preds = predict_frames(ensemble, test.images)
    bad = test.labels == 1
    every = sorted({b for box in grid.boxes for b in box[::2]} | {0, grid.image_hw[0]})
    lines = tuple(every[1:-1])
    midlines = tuple((a + b) // 2 for a, b in itertools.pairwise(every))
    all_pixels = {f"{k}_all_pixels": v for k, v in seam_ratio(preds.maps, test.labels, lines).items()}
    return {
        "image_auroc": round(auroc(preds.scores, test.labels), 4),
        "pixel_aupro": round(aupro(preds.maps[bad], test.masks[bad]), 4),
        **seam_ratio(preds.maps, test.labels, lines, midlines),
        **all_pixels,
        "thresholds_from": record.data.get("val_source"),
    }, test.images


def _is_trunk(node: Any) -> bool:
    return node.node_type in ("Convolution", "GroupConvolution") and "blur" not in node.node_name


def speed(run: Path, images: np.ndarray, reps: int) -> dict[str, float]:
    import openvino as ov

    from edgekit.artifacts.ir import to_input

    core = ov.Core()
    config = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY", "PERF_COUNT": "YES"}
    compiled = core.compile_model(core.read_model(str(run / "graph" / "frame.xml")), "CPU", config)
    request = compiled.create_infer_request()
    inputs = [to_input(images[i % len(images)]) for i in range(min(len(images), 8))]
    for x in inputs[:3]:
        request.infer({0: x})
    total, trunk = [], []
    for i in range(reps):
        t0 = time.perf_counter()
        request.infer({0: inputs[i % len(inputs)]})
        total.append((time.perf_counter() - t0) * 1000)
        infos = request.profiling_info
        trunk.append(sum(p.real_time.total_seconds() * 1000 for p in infos if _is_trunk(p)))
    return {"frame_ms": round(statistics.median(total), 2), "trunk_ms": round(statistics.median(trunk), 2)}


def paired_speed(runs: dict[str, Path], images: np.ndarray, reps: int) -> dict[str, dict[str, float]]:
    """Both tilings' speed, measured call by call in turn (the same load for both)."""
    import openvino as ov

    from edgekit.artifacts.ir import to_input

    core = ov.Core()
    config = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY", "PERF_COUNT": "YES"}
    requests = {
        k: core.compile_model(core.read_model(str(r / "graph" / "frame.xml")), "CPU", config).create_infer_request()
        for k, r in runs.items()
    }
    inputs = [to_input(images[i % len(images)]) for i in range(min(len(images), 8))]
    total: dict[str, list[float]] = {k: [] for k in runs}
    trunk: dict[str, list[float]] = {k: [] for k in runs}
    for i in range(reps + 3):
        for k, request in requests.items():
            t0 = time.perf_counter()
            request.infer({0: inputs[i % len(inputs)]})
            if i >= 3:
                total[k].append((time.perf_counter() - t0) * 1000)
                trunk[k].append(sum(p.real_time.total_seconds() * 1000 for p in request.profiling_info if _is_trunk(p)))
    return {
        k: {"frame_ms": round(statistics.median(total[k]), 2), "trunk_ms": round(statistics.median(trunk[k]), 2)}
        for k in runs
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--categories", default=DEFAULT_CATEGORIES)
    parser.add_argument("--models", default="padim")
    parser.add_argument("--demo", type=Path, default=ROOT / "build/bench/data")
    parser.add_argument("--wide", type=Path, default=Path("/tmp/wide/full"))
    parser.add_argument("--work", type=Path, default=ROOT / "build/bench/feature_tiling")
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "build/bench/feature_tiling.json")
    parser.add_argument("--speed-only", action="store_true", help="re-measure the speed of trained cells, paired")
    parser.add_argument("--rescore", action="store_true", help="re-measure the quality of trained cells")
    parser.add_argument("--epochs", type=int, default=0, help="epochs for STFPM/FastFlow/RD (0: model default)")
    args = parser.parse_args()
    results: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {"cells": {}}
    results["command"] = " ".join(sys.argv)
    results["load_at_start"] = os.getloadavg()[0]
    for name in args.categories.split(",") if args.speed_only else []:
        data = data_root(name, args.demo, args.wide)
        for model in args.models.split(","):
            keys = {t: cell(name, model, t, args.epochs) for t in ("image", "features")}
            if not all(k in results["cells"] for k in keys.values()):
                continue
            runs = {t: args.work / name.replace("/", "_") / "_".join(k.split("|")[1:]) for t, k in keys.items()}
            from edgekit.data import load_split, scan_dataset

            grid = json.loads((runs["image"] / "training.json").read_text())["grid"]
            test = load_split(scan_dataset(data).test[:8], tuple(grid["image_hw"]), what="test")
            for t, figures in paired_speed(runs, test.images, args.reps).items():
                results["cells"][keys[t]].update(figures)
            args.out.write_text(json.dumps(results, indent=2))
            print(name, model, {t: results["cells"][k] for t, k in keys.items()}, flush=True)
    for name in [] if args.speed_only else args.categories.split(","):
        data = data_root(name, args.demo, args.wide)
        for model in args.models.split(","):
            for tiling in ("image", "features"):
                key = cell(name, model, tiling, args.epochs)
                run = args.work / name.replace("/", "_") / "_".join(key.split("|")[1:])
                if key in results["cells"]:
                    if args.rescore:
                        results["cells"][key].update(quality(run, data)[0])
                        args.out.write_text(json.dumps(results, indent=2))
                        print(key, "rescored", results["cells"][key], flush=True)
                    continue
                train_s = train(data, run, model, tiling, ["--epochs", str(args.epochs)] if args.epochs else [])
                figures, images = quality(run, data)
                results["cells"][key] = {**figures, **speed(run, images, args.reps), "train_s": round(train_s, 1)}
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps(results, indent=2))
                print(key, results["cells"][key], flush=True)
    results["load_at_end"] = os.getloadavg()[0]
    args.out.write_text(json.dumps(results, indent=2))
    print("\n| category | model | trunk ms image / features | ratio | frame ms image / features | "
          "AUPRO image / features | AUROC image / features | seam x,y image | seam x,y features |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.categories.split(","):
        for model in args.models.split(","):
            a, b = (results["cells"].get(cell(name, model, t, args.epochs)) for t in ("image", "features"))
            if not a or not b:
                continue
            ratio = b["trunk_ms"] / a["trunk_ms"]
            print(
                f"| {name} | {model} | {a['trunk_ms']:.1f} / {b['trunk_ms']:.1f} | {ratio:.2f} | "
                f"{a['frame_ms']:.1f} / {b['frame_ms']:.1f} | {a['pixel_aupro']:.3f} / {b['pixel_aupro']:.3f} | "
                f"{a['image_auroc']:.3f} / {b['image_auroc']:.3f} | {a['seam_ratio_x']}, {a['seam_ratio_y']} | "
                f"{b['seam_ratio_x']}, {b['seam_ratio_y']} |"
            )


if __name__ == "__main__":
    main()
