"""Memory and time of the pixel metrics at 5 MP: edgekit.evaluation's numpy port against anomalib's classes.

``edgekit evaluate`` scores every pixel of the test split; 60 frames of 2448x2048 are 300 M pixels.
Each system runs in a child process on the same deterministic maps (uniform noise plus rectangular
defects of 0.05-1 % of the frame, raised by 0.3) and computes pixel AUROC, pixel AUPRO and the
F1-adaptive pixel threshold. Peak RSS is the child's, less its RSS once the maps are made (the
maps themselves, float32, are 4 bytes per pixel, the masks 1).

    .venv/bin/python benchmarks/pixel_metrics.py --frames 2,8,60 --anomalib-frames 2,8 \
        --previous fc51725 --previous-frames 2,8

``--previous REV`` also runs ``edgekit/evaluation.py`` as it was at git revision REV.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = r"""
import json, resource, sys, time
import numpy as np
system, frames, h, w = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(0)
maps = rng.random((frames, h, w), dtype=np.float32)
masks = np.zeros((frames, h, w), np.uint8)
for i in range(frames):
    if i % 2:
        continue  # half the frames are good
    for _ in range(3):
        side = int(np.sqrt(rng.uniform(0.0005, 0.01) * h * w / 3))
        y, x = rng.integers(0, h - side), rng.integers(0, w - side)
        masks[i, y : y + side, x : x + side] = 1
maps[masks.astype(bool)] += 0.3
if system == "edgekit":
    from edgekit.evaluation import aupro, auroc, f1_adaptive_threshold
elif system == "anomalib":  # anomalib's own classes, scores min-maxed into [0, 1] as its Engine does
    import torch
    from anomalib.metrics.aupro import _AUPRO
    from anomalib.metrics.auroc import _AUROC
    from anomalib.metrics.threshold.f1_adaptive_threshold import _F1AdaptiveThreshold

    def _run(metric, preds, target):
        lo, hi = float(preds.min()), float(preds.max())
        metric.update((torch.from_numpy(preds) - lo) / (hi - lo), torch.from_numpy(target.astype(np.int32)))
        return float(metric.compute()) * ((hi - lo) if isinstance(metric, _F1AdaptiveThreshold) else 1) + (
            lo if isinstance(metric, _F1AdaptiveThreshold) else 0
        )

    def auroc(maps, masks):
        return _run(_AUROC(), maps.ravel(), masks.ravel())

    def aupro(maps, masks):
        return _run(_AUPRO(), maps, masks)

    def f1_adaptive_threshold(maps, masks):
        return _run(_F1AdaptiveThreshold(), maps.ravel(), masks.ravel())
else:  # a file holding an earlier edgekit/evaluation.py
    import importlib.util
    spec = importlib.util.spec_from_file_location("previous_evaluation", system)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    aupro, auroc, f1_adaptive_threshold = module.aupro, module.auroc, module.f1_adaptive_threshold
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = {"pixels": maps.size}
for name, fn in (("pixel_auroc", auroc), ("pixel_aupro", aupro), ("pixel_threshold", f1_adaptive_threshold)):
    t0 = time.perf_counter()
    out[name] = fn(maps, masks)
    out[name + "_s"] = round(time.perf_counter() - t0, 2)
out["extra_peak_mib"] = round((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024)
print(json.dumps(out))
"""


def run(system: str, frames: int, h: int, w: int) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, system, str(frames), str(h), str(w)], capture_output=True, text=True
    )
    if proc.returncode:
        return {"error": f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:] or 'killed'}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", default="2,8,60", help="frame counts for edgekit's metrics")
    parser.add_argument("--anomalib-frames", default="2,8", help="frame counts for anomalib's (memory bound)")
    parser.add_argument("--previous", help="git revision of edgekit/evaluation.py to run as well")
    parser.add_argument("--previous-frames", default="2,8", help="frame counts for --previous")
    parser.add_argument("--size", default="2448x2048", help="WxH of a frame")
    parser.add_argument("--out", type=Path, default=ROOT / "build/bench/pixel_metrics.json")
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    results = []
    plan = [("edgekit", int(n)) for n in args.frames.split(",")]
    plan += [("anomalib", int(n)) for n in args.anomalib_frames.split(",") if n]
    names = {"edgekit": "edgekit", "anomalib": "anomalib"}
    if args.previous:
        source = subprocess.run(
            ["git", "show", f"{args.previous}:edgekit/evaluation.py"], cwd=ROOT, check=True, capture_output=True
        ).stdout
        previous = Path(tempfile.mkdtemp()) / "evaluation.py"
        previous.write_bytes(source)
        names[str(previous)] = f"edgekit@{args.previous}"
        plan += [(str(previous), int(n)) for n in args.previous_frames.split(",") if n]
    for system, frames in sorted(plan, key=lambda p: (p[1], names[p[0]])):
        row = {"system": names[system], "frames": frames, **run(system, frames, h, w)}
        results.append(row)
        print(json.dumps(row), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"size": args.size, "load_at_end": os.getloadavg(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
