"""What a score rule costs the runtime: two bundles of one model, side by side on the same frames.

Both bundles are loaded in one process with the runtime (``edgekit.runtime.load``) and predict the same
decoded frames in alternating rounds (A, B, B, A, ...), so load drift hits both alike; the medians of the
per-frame ``predict`` latency (one frame per call, one stream) and their ratio are printed and written as
JSON. Used for ``--score z_coverage`` against ``--score max`` (issue 12):

    .venv/bin/edgekit train --data /tmp/wide/full/logo --out build/bench/cost/max --no-progress --score max
    .venv/bin/edgekit train --data /tmp/wide/full/logo --out build/bench/cost/z --no-progress --score z_coverage
    .venv/bin/edgekit export build/bench/cost/max --out build/bench/cost/max.bundle
    .venv/bin/edgekit export build/bench/cost/z --out build/bench/cost/z.bundle
    .venv/bin/python benchmarks/score_cost.py build/bench/cost/max.bundle build/bench/cost/z.bundle \\
        --frames /tmp/wide/full/logo/test --out build/bench/score_cost.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", type=Path, help="bundle A (the reference)")
    parser.add_argument("b", type=Path, help="bundle B")
    parser.add_argument("--frames", type=Path, required=True, help="folder of images (searched recursively)")
    parser.add_argument("--rounds", type=int, default=6, help="alternating rounds over all frames")
    parser.add_argument("--out", type=Path, default=Path("build/bench/score_cost.json"))
    args = parser.parse_args()
    from edgekit.runtime import load

    paths = sorted(p for p in args.frames.rglob("*") if p.suffix.lower() in {".png", ".jpg", ".bmp"})
    frames = [cv2.imread(str(p)) for p in paths]
    engines = {"a": load(args.a), "b": load(args.b)}
    for engine in engines.values():  # warm-up
        for frame in frames[:3]:
            engine.predict(frame)
    lat: dict[str, list[float]] = {"a": [], "b": []}
    for r in range(args.rounds):
        for name in ("a", "b") if r % 2 == 0 else ("b", "a"):
            for frame in frames:
                t0 = time.perf_counter()
                engines[name].predict(frame)
                lat[name].append((time.perf_counter() - t0) * 1e3)
    result = {
        "a": str(args.a),
        "b": str(args.b),
        "score_rules": {k: e.manifest.join.score_rule for k, e in engines.items()},
        "frames": len(frames),
        "rounds": args.rounds,
        "median_ms": {k: float(np.median(v)) for k, v in lat.items()},
        "p95_ms": {k: float(np.percentile(v, 95)) for k, v in lat.items()},
    }
    result["b_over_a"] = result["median_ms"]["b"] / result["median_ms"]["a"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
