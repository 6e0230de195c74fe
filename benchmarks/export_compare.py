"""Exported bundles side by side: FP32 vs INT8 vs FP16, fused graph vs one IR per tile position, where the time goes.

Measured on one trained run (default: the 512 px demo run, 3x3 PaDiM tiles of 256 on efficientnet_lite0):

* bundles: FP32, FP16-compressed and INT8 (NNCF) exports of the run's fused graph. For each, in its own child
  process (so peak RSS is that model's own): frames/s of a synchronous loop (one frame, i.e. N tiles, per
  ``infer``; the median of per-frame times over ``--frames`` frames after ``--warmup``), frames/s through an
  ``AsyncInferQueue`` with 2 jobs (median of 3 passes), peak RSS, IR size, and the accuracy deltas from its
  manifest. The INT8 bundle also runs with ``INFERENCE_PRECISION_HINT`` bf16 next to the bundle's f32;
* naive: one whole model per tile position (``edgekit.train.graph.write_position_graphs``: each its own trunk
  pass and its head, with the same uint8 preprocessing baked in), run one after another synchronously on the
  same frames; fps and peak RSS in its own child, compared with the fused FP32 graph;
* side by side: one child compiles every variant and runs them in turn, frame after frame, so the ratios
  see the same load (the machine is shared: the loaded-ness is recorded with every measurement);
* where the time goes: OpenVINO per-layer profiling (``PERF_COUNT``) of the fused INT8 and FP32 graphs,
  summed into preprocessing, trunk and head (PaDiM MatMul, distances, upsampling, blur) in ms per frame;
* head knobs (``--knobs``): PaDiM variants trained on a small 512 px set only for timing (the head's cost
  depends on its shapes, not on its values; accuracy is measured in ``train_compare.py``): n_features 50 vs
  100 x layers blocks.2+4 vs blocks.1+2+4; head ms and frames/s of each FP32 graph.

Only inference is timed (tiles are cut before the clock starts): tiling and joining are the same numpy work
for every variant.

Usage::

    .venv/bin/python benchmarks/export_compare.py --run /tmp/demo1/run --int8 /tmp/demo1/bundle_int8 --knobs
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "build" / "bench" / "export_compare.json"
HEAD_TYPES = {"MatMul", "Interpolate"}
KNOBS = (
    ("nf100_b24", 100, ("blocks.2", "blocks.4")),
    ("nf50_b24", 50, ("blocks.2", "blocks.4")),
    ("nf100_b124", 100, ("blocks.1", "blocks.2", "blocks.4")),
    ("nf50_b124", 50, ("blocks.1", "blocks.2", "blocks.4")),
)


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def _child(spec: dict[str, Any], timeout: float = 1800) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; its last stdout line is the JSON result."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--one", json.dumps(spec)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-5:]
        return {"error": f"child exited {proc.returncode}", "stderr_tail": tail}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------------------------------- children


def _frames(run: str, n: int) -> tuple[np.ndarray, Any]:
    """``uint8 [n, N, T, T, 3]`` tiles of the run's test frames (cycled to n) and the record."""
    from edgekit.artifacts.record import TrainingRecord
    from edgekit.data import load_split, scan_dataset
    from edgekit.tiling import tile

    record = TrainingRecord.load(Path(run), verify=False)
    grid = record.grid
    test = scan_dataset(Path(record.data["root"])).test
    picks = [test[i % len(test)] for i in range(min(n, len(test)))]
    images = load_split(picks, grid.image_hw, min_hw=grid.tile_hw).images
    tiles = np.stack([tile(grid, img) for img in images])
    return tiles[np.arange(n) % len(tiles)], record


def _config(hint: str, perf: bool = False, mode: str = "LATENCY") -> dict[str, str]:
    cfg = {"INFERENCE_PRECISION_HINT": hint, "PERFORMANCE_HINT": mode}
    if perf:
        cfg["PERF_COUNT"] = "YES"
    return cfg


def _compile_variant(core: Any, variant: dict[str, Any], record: Any, perf: bool = False) -> list[Any]:
    """Compiled models of a variant: one for a bundle or a fused graph, N for the per-position IRs."""
    from edgekit.export.ir import with_preprocessing

    hint = variant.get("hint", "f32")
    mode = variant.get("mode", "LATENCY")
    if variant["kind"] == "bundle":
        return [core.compile_model(str(Path(variant["path"]) / "ensemble.xml"), "CPU", _config(hint, perf, mode))]
    if variant["kind"] == "graph":  # a run's FP32 graph, static shape and preprocessing added as export does
        model = _static(core.read_model(variant["path"]), record.graph["input"]["shape"])
        return [core.compile_model(with_preprocessing(model, record), "CPU", _config(hint, perf, mode))]
    folder = Path(variant["path"])
    models = []
    one_tile = [1, *record.graph["input"]["shape"][1:]]
    for p in range(record.grid.n_tiles):
        model = with_preprocessing(_static(core.read_model(str(folder / f"p{p:02d}.xml")), one_tile), record)
        models.append(core.compile_model(model, "CPU", _config(hint, perf, mode)))
    return models


def _static(model: Any, shape: list[int]) -> Any:
    """Fix the input shape (ov.convert_model leaves it dynamic), as edgekit.export.ir.read_run_graph does."""
    import openvino as ov

    model.reshape({0: ov.PartialShape(list(shape))})
    return model


class _Runner:
    """One frame through a variant: the fused model on all N tiles, or N position models one tile each."""

    def __init__(self, compiled: list[Any]) -> None:
        self.compiled = compiled
        self.requests = [c.create_infer_request() for c in compiled]

    def __call__(self, tiles: np.ndarray) -> None:
        if len(self.requests) == 1:
            self.requests[0].infer({0: tiles}, share_inputs=True)
        else:
            for p, request in enumerate(self.requests):
                request.infer({0: tiles[p : p + 1]}, share_inputs=True)


def _sync(runner: _Runner, tiles: np.ndarray, warmup: int) -> list[float]:
    for i in range(warmup):
        runner(tiles[i % len(tiles)])
    times = []
    for frame in tiles:
        t0 = time.perf_counter_ns()
        runner(frame)
        times.append((time.perf_counter_ns() - t0) / 1e6)
    return times


def _async_fps(compiled: Any, tiles: np.ndarray, jobs: int, passes: int = 3) -> list[float]:
    import openvino as ov

    queue = ov.AsyncInferQueue(compiled, jobs)
    for frame in tiles[: 2 * jobs]:  # warm-up
        queue.start_async({0: frame}, share_inputs=True)
    queue.wait_all()
    out = []
    for _ in range(passes):
        t0 = time.perf_counter()
        for frame in tiles:
            queue.start_async({0: frame}, share_inputs=True)
        queue.wait_all()
        out.append(len(tiles) / (time.perf_counter() - t0))
    return out


def _summary(times_ms: list[float]) -> dict[str, float]:
    med = statistics.median(times_ms)
    return {
        "fps": round(1000.0 / med, 3),
        "ms_p50": round(med, 2),
        "ms_p95": round(float(np.percentile(times_ms, 95)), 2),
        "ms_mean": round(statistics.fmean(times_ms), 2),
        "measured": len(times_ms),
    }


def _pre_names(variant: dict[str, Any], core: Any, record: Any) -> set[str]:
    """Names of the preprocessing ops in front of the run's graph (absent from the graph as training wrote it)."""
    from edgekit.export.ir import with_preprocessing

    if variant["kind"] == "graph":
        raw = core.read_model(variant["path"])
        full = with_preprocessing(core.read_model(variant["path"]), record)
    elif variant["kind"] == "bundle" and variant.get("run_graph"):
        raw = core.read_model(variant["run_graph"])
        full = core.read_model(str(Path(variant["path"]) / "ensemble.xml"))
    else:
        return set()
    names = {op.get_friendly_name() for op in full.get_ops()} - {op.get_friendly_name() for op in raw.get_ops()}
    return {n for n in names if "fq_" not in n and "FakeQuantize" not in n}


def _part(name: str, node_type: str, pre: set[str]) -> str:
    low = name.lower()
    if name in pre or low.startswith(("tiles", "convert_element_type")):
        return "pre"
    if "padim" in low or "blur" in low or "anomaly_map" in low or node_type in HEAD_TYPES or "amax" in low:
        return "head"
    return "trunk"


def _profile(compiled: Any, tiles: np.ndarray, warmup: int, pre: set[str]) -> dict[str, Any]:
    request = compiled.create_infer_request()
    for i in range(warmup):
        request.infer({0: tiles[i % len(tiles)]})
    per_frame: dict[str, list[float]] = defaultdict(list)
    nodes: dict[str, list[float]] = defaultdict(list)
    kinds: dict[str, str] = {}
    for frame in tiles:
        request.infer({0: frame})
        parts: dict[str, float] = defaultdict(float)
        for info in request.profiling_info:
            ms = info.real_time.total_seconds() * 1e3
            part = _part(info.node_name, info.node_type, pre)
            parts[part] += ms
            nodes[info.node_name].append(ms)
            kinds[info.node_name] = f"{part}:{info.node_type}:{info.exec_type}"
        for part in ("pre", "trunk", "head"):
            per_frame[part].append(parts[part])
    med = {part: round(statistics.median(v), 2) for part, v in per_frame.items()}
    med["total"] = round(sum(med.values()), 2)
    top = sorted(((statistics.median(v), n) for n, v in nodes.items()), reverse=True)[:12]
    return {"ms_per_frame": med, "top_nodes": [{"ms": round(t, 2), "node": n[:90], "kind": kinds[n]} for t, n in top]}


def one(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one measurement (in a child process)."""
    import openvino as ov

    from edgekit.perf import peak_rss_mb

    rss0 = peak_rss_mb()
    tiles, record = _frames(spec["run"], spec["frames"])
    core = ov.Core()
    rss_ready = peak_rss_mb()
    out: dict[str, Any] = {"load_before": _load()}
    if spec["what"] == "variant":
        variant = spec["variant"]
        t0 = time.perf_counter()
        compiled = _compile_variant(core, variant, record)
        out["compile_s"] = round(time.perf_counter() - t0, 2)
        out["sync"] = _summary(_sync(_Runner(compiled), tiles, spec["warmup"]))
        if spec.get("async_jobs") and len(compiled) == 1:
            fps = _async_fps(compiled[0], tiles, spec["async_jobs"])
            out["async"] = {"jobs": spec["async_jobs"], "fps": round(statistics.median(fps), 3), "passes": fps}
    elif spec["what"] == "side_by_side":
        variants = spec["variants"]
        runners = {v["name"]: _Runner(_compile_variant(core, v, record)) for v in variants}
        for runner in runners.values():
            _sync(runner, tiles[: spec["warmup"]], 0)
        times: dict[str, list[float]] = defaultdict(list)
        for frame in tiles:  # interleaved: every variant sees the same moments of machine load
            for name, runner in runners.items():
                t0 = time.perf_counter_ns()
                runner(frame)
                times[name].append((time.perf_counter_ns() - t0) / 1e6)
        out["variants"] = {name: _summary(t) for name, t in times.items()}
    elif spec["what"] == "profile":
        variant = spec["variant"]
        (compiled,) = _compile_variant(core, variant, record, perf=True)
        out.update(_profile(compiled, tiles, spec["warmup"], _pre_names(variant, core, record)))
        out["sync"] = _summary(_sync(_Runner([compiled]), tiles, 0))
    out["load_after"] = _load()
    out["rss_mb"] = {"after_imports_and_frames": round(rss_ready, 1), "start": round(rss0, 1), "peak": 0.0}
    out["rss_mb"]["peak"] = round(peak_rss_mb(), 1)
    return out


# ------------------------------------------------------------------------------------------------------ parent


def _record_sha(run: Path) -> str:
    from edgekit.artifacts.files import sha256_file

    return sha256_file(run / "training.json")


def _ensure_bundle(run: Path, folder: Path, precision: str, given: Path | None) -> tuple[Path, str]:
    """A bundle of ``run`` at ``precision``: ``given`` if it was exported from this very run, else a fresh export."""
    from edgekit.artifacts.manifest import EnsembleManifest

    for candidate in (given, folder):
        if candidate is None or not (candidate / "manifest.json").is_file():
            continue
        m = EnsembleManifest.load(candidate, verify=False)
        if m.precision == precision and m.source.get("record_sha256") == _record_sha(run) and _is_static(candidate):
            return candidate, "reused"
    cmd = [sys.executable, "-c", "from edgekit.cli.main import main; main()", "export", str(run), "--out",
           str(folder), "--precision", precision]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return folder, f"exported in {time.perf_counter() - t0:.0f} s"


def _is_static(bundle: Path) -> bool:
    import openvino as ov

    return not ov.Core().read_model(str(bundle / "ensemble.xml")).inputs[0].get_partial_shape().is_dynamic


def _ensure_positions(run: Path, folder: Path) -> str:
    if (folder / "done.json").is_file() and json.loads((folder / "done.json").read_text())["sha"] == _record_sha(run):
        return "reused"
    code = (
        "import sys, json; from pathlib import Path; import torch; torch.set_num_threads(1)\n"
        "from edgekit.train.run_io import load_run; from edgekit.train.graph import write_position_graphs\n"
        "_, ens = load_run(Path(sys.argv[1])); out = write_position_graphs(ens, Path(sys.argv[2]))\n"
        "print(json.dumps(out))\n"
    )
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, str(run), str(folder)], check=True, capture_output=True, text=True)
    (folder / "done.json").write_text(json.dumps({"sha": _record_sha(run)}))
    return f"written in {time.perf_counter() - t0:.0f} s"


def _knob_runs(work: Path, base_run: Path) -> dict[str, Path]:
    """Train the head-knob variants on a small 512 px set (timing only; 4 training images suffice for shapes)."""
    from edgekit.artifacts.record import TrainingRecord

    data_root = work / "knob-data"
    if not (data_root / "coffee").is_dir():
        code = (
            "import sys; from pathlib import Path; from edgekit.demo import generate_demo_data\n"
            "from edgekit.demo.summary import DemoCounts\n"
            "c = DemoCounts(train_good=8, test_good=2, per_defect=1, stream_frames=2, stream_defective=1)\n"
            "generate_demo_data(Path(sys.argv[1]), size=512, categories=['coffee'], counts=c, progress=False)\n"
        )
        subprocess.run([sys.executable, "-c", code, str(data_root)], check=True, capture_output=True, text=True)
    grid = TrainingRecord.load(base_run, verify=False).grid
    runs = {}
    for name, nf, layers in KNOBS:
        out = work / "knob-runs" / name
        if not (out / "training.json").is_file():
            cmd = [sys.executable, "-c", "from edgekit.cli.main import main; main()", "train", "--data",
                   str(data_root / "coffee"), "--out", str(out), "--image-size", str(grid.image_hw[0]),
                   "--tile-size", str(grid.tile_hw[0]), "--stride", str(grid.stride_hw[0]), "--n-features",
                   str(nf), "--layers", ",".join(layers), "--no-progress"]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                print(f"knob {name}: training failed: {proc.stderr.strip().splitlines()[-1:]}", flush=True)
                continue
        runs[name] = out
    return runs


def _fmt_row(cells: list[Any], widths: list[int]) -> str:
    return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=False))


def _print_table(result: dict[str, Any]) -> None:
    rows = [["variant", "sync fps", "p50 ms", "async2 fps", "peak RSS MB", "IR MB", "d img AUROC", "d px AUPRO"]]
    for name, r in result["variants"].items():
        if "error" in r:
            rows.append([name, r["error"], "", "", "", "", "", ""])
            continue
        delta = r.get("accuracy_delta") or {}
        rows.append([
            name,
            r["sync"]["fps"],
            r["sync"]["ms_p50"],
            r.get("async", {}).get("fps", "-"),
            r["rss_mb"]["peak"],
            r.get("ir_mb", "-"),
            f"{delta['image_auroc']:+.4f}" if "image_auroc" in delta else "-",
            f"{delta['pixel_aupro']:+.4f}" if "pixel_aupro" in delta else "-",
        ])
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    print("\n".join(_fmt_row(r, widths) for r in rows))
    sbs = result.get("side_by_side", {}).get("variants", {})
    if sbs:
        print("\nside by side (interleaved, one child): " + ", ".join(f"{k} {v['fps']} fps" for k, v in sbs.items()))
    for k, v in result.get("ratios", {}).items():
        print(f"  {k}: {v}")
    for name, p in result.get("profiles", {}).items():
        if "ms_per_frame" in p:
            print(f"profile {name}: {p['ms_per_frame']} ms/frame")
    for name, k in result.get("knobs", {}).items():
        if "ms_per_frame" in k:
            ms = k["ms_per_frame"]
            print(f"knob {name}: head {ms['head']} ms, trunk {ms['trunk']} ms, sync {k['sync']['fps']} fps, "
                  f"graph {k['graph_mb']} MB, peak RSS {k['rss_mb']['peak']} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("/tmp/demo1/run"))
    parser.add_argument(
        "--int8", type=Path, help="An INT8 bundle of --run: reused if static, else measured as 'int8_dynamic'."
    )
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "bench" / "export_compare")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--frames", type=int, default=40, help="Measured frames per variant (>= 30).")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--knobs", action="store_true", help="Also train and time the PaDiM head-knob variants.")
    parser.add_argument("--table", action="store_true", help="Only print the table of an existing --out JSON.")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.table:
        _print_table(json.loads(args.out.read_text()))
        return
    if args.one:
        print(json.dumps(one(json.loads(args.one))))
        return
    t_start = time.perf_counter()
    run, work = args.run.resolve(), args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    from edgekit.artifacts.manifest import EnsembleManifest

    result: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "run": str(run),
        "machine": {"cores": os.cpu_count(), "platform": platform.platform(), "load_at_start": _load()},
        "frames": args.frames,
        "warmup": args.warmup,
        "note": "inference only (tiles cut before the clock); sync fps = 1000 / median per-frame ms; "
        "each variant in its own child (peak RSS = that child's ru_maxrss, incl. ~python+numpy+openvino); "
        "2 shared cores: see load_before/after per measurement and prefer the side-by-side ratios",
        "setup": {},
        "variants": {},
    }
    bundles = {}
    for precision in ("fp32", "fp16", "int8"):
        given = args.int8 if precision == "int8" else None
        bundles[precision], how = _ensure_bundle(run, work / f"bundle_{precision}", precision, given)
        result["setup"][f"bundle_{precision}"] = f"{bundles[precision]} ({how})"
        print(f"bundle {precision}: {result['setup'][f'bundle_{precision}']}", flush=True)
    positions = work / "positions"
    result["setup"]["positions"] = f"{positions} ({_ensure_positions(run, positions)})"
    run_graph = str(run / "graph" / "ensemble.xml")
    variants = {
        "fp32": {"kind": "bundle", "path": str(bundles["fp32"]), "hint": "f32", "run_graph": run_graph},
        "fp16": {"kind": "bundle", "path": str(bundles["fp16"]), "hint": "f32", "run_graph": run_graph},
        "int8": {"kind": "bundle", "path": str(bundles["int8"]), "hint": "f32", "run_graph": run_graph},
        "int8_bf16": {"kind": "bundle", "path": str(bundles["int8"]), "hint": "bf16", "run_graph": run_graph},
        "naive_fp32": {"kind": "positions", "path": str(positions), "hint": "f32"},
    }
    if args.int8 is not None and (args.int8 / "manifest.json").is_file() and not _is_static(args.int8):
        # an INT8 bundle exported before export fixed the input shape: dynamic vs static, same weights recipe
        variants["int8_dynamic"] = {"kind": "bundle", "path": str(args.int8.resolve()), "hint": "f32",
                                    "run_graph": run_graph}
    common = {"run": str(run), "frames": args.frames, "warmup": args.warmup}
    for name, variant in variants.items():
        r = _child({**common, "what": "variant", "variant": variant, "async_jobs": 0 if name == "naive_fp32" else 2})
        if variant["kind"] == "bundle" and "error" not in r:
            m = EnsembleManifest.load(Path(variant["path"]), verify=False)
            r["ir_mb"] = round(m.sizes["ir_bytes"] / 2**20, 1)
            r["accuracy_delta"] = m.accuracy.get("delta", {})
            r["accuracy"] = {k: m.accuracy.get(k) for k in ("split", "fp32", m.precision)}
        elif "error" not in r:
            r["ir_mb"] = round(sum(p.stat().st_size for p in positions.glob("p*.*")) / 2**20, 1)
        result["variants"][name] = r
        print(f"{name}: {r.get('sync', r)}", flush=True)
    sbs_names = [n for n in ("fp32", "fp16", "int8", "int8_bf16", "int8_dynamic", "naive_fp32") if n in variants]
    sbs = [{"name": n, **variants[n]} for n in sbs_names]
    result["side_by_side"] = _child({**common, "what": "side_by_side", "variants": sbs})
    s = result["side_by_side"].get("variants", {})
    v = result["variants"]
    if s:
        result["ratios"] = {
            "fused_fp32 / naive_fp32 fps (side by side)": round(s["fp32"]["fps"] / s["naive_fp32"]["fps"], 2),
            "int8 / fp32 fps (side by side)": round(s["int8"]["fps"] / s["fp32"]["fps"], 2),
            "fp16 / fp32 fps (side by side)": round(s["fp16"]["fps"] / s["fp32"]["fps"], 2),
            "int8 bf16 / int8 f32 fps (side by side)": round(s["int8_bf16"]["fps"] / s["int8"]["fps"], 2),
        }
        if "int8_dynamic" in s:
            result["ratios"]["int8 static / dynamic input fps (side by side)"] = round(
                s["int8"]["fps"] / s["int8_dynamic"]["fps"], 2
            )
    if "error" not in v["fp32"] and "error" not in v["naive_fp32"]:
        result.setdefault("ratios", {})["fused_fp32 / naive_fp32 peak RSS (own children)"] = round(
            v["fp32"]["rss_mb"]["peak"] / v["naive_fp32"]["rss_mb"]["peak"], 2
        )
    result["profiles"] = {
        name: _child({**common, "frames": 12, "what": "profile", "variant": variants[name]})
        for name in ("fp32", "int8")
    }
    if args.knobs:
        result["knobs"] = {}
        for name, knob_run in _knob_runs(work, run).items():
            graph = knob_run / "graph" / "ensemble.xml"
            variant = {"kind": "graph", "path": str(graph), "hint": "f32"}
            r = _child({**common, "frames": 12, "what": "profile", "variant": variant})
            r["graph_mb"] = round((knob_run / "graph" / "ensemble.bin").stat().st_size / 2**20, 1)
            result["knobs"][name] = r
            print(f"knob {name}: {r.get('ms_per_frame', r)}", flush=True)
    result["elapsed_min"] = round((time.perf_counter() - t_start) / 60, 1)
    result["machine"]["load_at_end"] = _load()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print()
    _print_table(result)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
