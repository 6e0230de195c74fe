"""Fused ensemble graph vs one IR per tile position, for any trained run (issue 4: STFPM, FastFlow, RD too).

    .venv/bin/python benchmarks/fused_vs_separate.py RUN [RUN ...] --frames 30 --json build/bench/fused_vs_separate.json

Both are the FP32 graphs written from the run (``graph/ensemble.xml`` and ``write_position_graphs``), compiled
on CPU with f32 precision and timed alternately, frame by frame, on the same random frames (sync, one frame
per call); medians. The bundle always holds the fused graph; this says whether that is the faster choice.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import openvino as ov

from edgekit.train.graph import write_position_graphs
from edgekit.train.run_io import load_run


def measure(run: Path, frames: int) -> dict[str, object]:
    record, ensemble = load_run(run)
    positions = run / "graph" / "positions"
    if not (positions / "p00.xml").is_file():
        write_position_graphs(ensemble, positions)
    core = ov.Core()
    cfg = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
    fused = core.compile_model(str(run / record.graph["xml"]), "CPU", cfg)
    fused_req = fused.create_infer_request()
    separate = [core.compile_model(str(positions / f"p{p:02d}.xml"), "CPU", cfg) for p in range(record.grid.n_tiles)]
    separate_req = [m.create_infer_request() for m in separate]
    n, (th, tw) = record.grid.n_tiles, record.grid.tile_hw
    rng = np.random.default_rng(0)
    batches = [rng.standard_normal((n, 3, th, tw), dtype=np.float32) for _ in range(frames + 3)]
    t_fused, t_sep = [], []
    for i, x in enumerate(batches):
        t0 = time.perf_counter()
        fused_req.infer({0: x})
        t1 = time.perf_counter()
        for p, req in enumerate(separate_req):
            req.infer({0: x[p : p + 1]})
        t2 = time.perf_counter()
        if i >= 3:
            t_fused.append(t1 - t0)
            t_sep.append(t2 - t1)
    f, s = statistics.median(t_fused), statistics.median(t_sep)
    return {
        "run": str(run),
        "model": record.model,
        "grid": str(record.grid),
        "fused_ms": round(f * 1000, 2),
        "separate_ms": round(s * 1000, 2),
        "fused_speedup": round(s / f, 3),
        "faster": "fused" if f <= s else "separate",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--json", type=Path, default=Path("build/bench/fused_vs_separate.json"))
    args = parser.parse_args()
    results = []
    for run in args.runs:
        r = measure(run, args.frames)
        results.append(r)
        print(
            f"{r['model']:<22} {r['grid']}: fused {r['fused_ms']} ms, separate {r['separate_ms']} ms "
            f"-> fused x{r['fused_speedup']} ({r['faster']} is faster)"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
