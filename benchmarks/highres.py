"""High-resolution frames (issue 13): training memory, export, IR size and runtime megapixels/s at 5 MP.

For every tiling in ``--tilings`` the same category is trained and exported (INT8) twice, at ``--size``
(default 2448x2048: 19 x 15 = 285 positions of 256 at stride 128) and at ``--ref-size`` (512: 3 x 3),
each stage in its own child process under ``/usr/bin/time -v``:

* ``edgekit train`` (60+ training images, thresholds from the held-out validation folder): wall time,
  peak RSS, run folder size, head state;
* ``edgekit export`` (INT8, its accuracy check on): wall time, peak RSS, IR size;
* optionally (``--quality``) ``edgekit evaluate --json`` on the test split: image AUROC, pixel AUPRO.

Runtime: ``python -m edgekit.bench.worker edgekit_predecoded`` (the streaming runtime fed pre-decoded
frames already at the bundle's size, THROUGHPUT hint) on every bundle, alternating the bundles
repetition by repetition; megapixels/s = frames/s x W x H. The issue's target is the ratio of the
5 MP figure to the 512 px one of the same tiling, medians of ``--reps``, same run.

    .venv/bin/python benchmarks/highres.py --data /tmp/hr2448/coins --ref-data /tmp/wide/full/coins \\
        --out build/bench/highres.json

The data: ``edgekit demo-data DIR --set wide --size 2448 --category coins`` (square frames, resized to
2448x2048 by ``edgekit train``, as a camera's frames would be), and the same category at 512.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EDGEKIT = str(Path(sys.executable).with_name("edgekit"))


def timed(command: list[str], log: Path) -> dict[str, Any]:
    """Run ``command`` under ``/usr/bin/time -v``: wall and CPU seconds, peak RSS MiB, exit code (output to ``log``)."""
    t0 = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    log.write_text(proc.stdout + proc.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    cpu = re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", proc.stderr)
    return {
        "wall_s": round(wall, 1),
        "cpu_s": round(sum(float(s) for s in cpu), 1) if len(cpu) == 2 else None,
        "peak_rss_mib": round(int(rss.group(1)) / 1024, 1) if rss else None,
        "rc": proc.returncode,
        "tail": (proc.stdout + proc.stderr).strip().splitlines()[-3:] if proc.returncode else [],
    }


def folder_mib(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20, 1)


def stages(name: str, data: Path, size: str, tiling: str, args: argparse.Namespace) -> dict[str, Any]:
    """Train, export and (optionally) evaluate one system; resumable per stage."""
    work = args.work / name
    work.mkdir(parents=True, exist_ok=True)
    run, bundle = work / "run", work / "bundle"
    out: dict[str, Any] = {"size": size, "tiling": tiling, "data": str(data)}
    if not (run / "training.json").is_file():
        out["train"] = timed(
            [EDGEKIT, "train", "--data", str(data), "--out", str(run), "--image-size", size, "--tile-size",
             str(args.tile), "--stride", str(args.stride), "--tiling", tiling, "--no-progress", *args.extra.split()],
            work / "train.log",
        )
        if out["train"]["rc"]:
            return out
    record = json.loads((run / "training.json").read_text())
    out["positions"] = len(record["positions"])
    out["n_train"] = record["data"]["n_train"]
    out["val_source"] = record["data"]["val_source"]
    out["record_timing"] = record["timing"]
    out["run_mib"] = folder_mib(run)
    out["head_state_mib"] = round(
        (record["shared"]["bytes"] if record.get("shared") else sum(record["position_state_bytes"])) / 2**20, 1
    )
    if not (bundle / "manifest.json").is_file():
        out["export"] = timed([EDGEKIT, "export", str(run), "--out", str(bundle), *args.export_extra.split()],
                              work / "export.log")
        if out["export"]["rc"]:
            return out
    manifest = json.loads((bundle / "manifest.json").read_text())
    out["bundle_mib"] = folder_mib(bundle)
    out["ir_mib"] = round(sum(f.stat().st_size for f in bundle.glob("*.bin")) / 2**20, 1)
    out["precision"] = manifest.get("precision")
    out["int8_check"] = manifest.get("accuracy") or manifest.get("quantization")
    if args.quality and not (work / "evaluate.json").is_file():
        command = [EDGEKIT, "evaluate", str(run), "--data", str(data), "--json", str(work / "evaluate.json"),
                   "--no-progress"]
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        if proc.returncode:
            out["evaluate_error"] = proc.stderr.strip().splitlines()[-1:]
    if (work / "evaluate.json").is_file():
        out["evaluate"] = json.loads((work / "evaluate.json").read_text())
    return out


def frames_file(data: Path, bundle: Path, n: int, work: Path) -> Path:
    """``n`` test frames of ``data`` resized to the bundle's size, stored once as ``.npy``."""
    import cv2

    manifest = json.loads((bundle / "manifest.json").read_text())
    h, w = manifest["grid"]["image_hw"]
    path = work / f"frames_{w}x{h}.npy"
    if not path.is_file():
        files = sorted((data / "test").glob("*/*.png"))[:n]
        frames = np.stack([cv2.resize(cv2.imread(str(f)), (w, h), interpolation=cv2.INTER_AREA) for f in files])
        np.save(path, frames)
    return path


def runtime_once(bundle: Path, frames: Path, warmup: int) -> dict[str, Any]:
    proc = subprocess.run(
        ["/usr/bin/time", "-v", sys.executable, "-m", "edgekit.bench.worker", "edgekit_predecoded", "--bundle",
         str(bundle), "--frames-file", str(frames), "--clip", str(frames), "--warmup", str(warmup)],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode:
        return {"error": proc.stderr.strip().splitlines()[-3:]}
    result = json.loads(proc.stdout)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    result["peak_rss_mib"] = round(int(rss.group(1)) / 1024, 1) if rss else None
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="Category at high resolution (MVTec layout)")
    parser.add_argument("--ref-data", type=Path, required=True, help="The same category at 512 px")
    parser.add_argument("--size", default="2448x2048")
    parser.add_argument("--ref-size", default="512")
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--stride", type=int, default=128)
    parser.add_argument("--tilings", default="features,image")
    parser.add_argument("--extra", default="", help="More edgekit train options")
    parser.add_argument("--export-extra", default="", help="More edgekit export options")
    parser.add_argument("--quality", action="store_true", help="Also edgekit evaluate every run")
    parser.add_argument("--frames", type=int, default=8, help="Runtime frames at --size (x the pixel ratio at 512)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--work", type=Path, default=ROOT / "build/bench/highres")
    parser.add_argument("--out", type=Path, default=ROOT / "build/bench/highres.json")
    args = parser.parse_args()

    systems: dict[str, dict[str, Any]] = {}
    for tiling in args.tilings.split(","):
        for size, data in ((args.ref_size, args.ref_data), (args.size, args.data)):
            name = f"{tiling}_{size}"
            print(f"{name}: train and export", flush=True)
            systems[name] = stages(name, data, size, tiling, args)
            print(json.dumps({k: systems[name].get(k) for k in ("positions", "train", "export", "ir_mib")}), flush=True)
    runtime: dict[str, list[dict[str, Any]]] = {}
    ready = {n: s for n, s in systems.items() if (args.work / n / "bundle" / "manifest.json").is_file()}
    for rep in range(args.reps):
        for name, system in ready.items():
            bundle = args.work / name / "bundle"
            big = system["size"] == args.size
            n = args.frames if big else args.frames * 4
            frames = frames_file(Path(system["data"]), bundle, n, args.work)
            result = runtime_once(bundle, frames, warmup=1 if big else 4)
            h, w = np.load(frames, mmap_mode="r").shape[1:3]
            if "fps" in result:
                result["mp_per_s"] = round(result["fps"] * h * w / 1e6, 3)
            runtime.setdefault(name, []).append(result)
            print(f"rep {rep}: {name}: {result.get('fps')} fps, {result.get('mp_per_s')} MP/s", flush=True)
    summary: dict[str, Any] = {}
    for tiling in args.tilings.split(","):
        big, ref = runtime.get(f"{tiling}_{args.size}", []), runtime.get(f"{tiling}_{args.ref_size}", [])
        pairs = [
            b["mp_per_s"] / r["mp_per_s"] for b, r in zip(big, ref, strict=False) if "mp_per_s" in b and "mp_per_s" in r
        ]
        summary[tiling] = {
            "mp_per_s_big": statistics.median([b["mp_per_s"] for b in big if "mp_per_s" in b]) if big else None,
            "mp_per_s_ref": statistics.median([r["mp_per_s"] for r in ref if "mp_per_s" in r]) if ref else None,
            "ratio_median_of_pairs": round(statistics.median(pairs), 3) if pairs else None,
        }
    result = {
        "machine": {"cpus": os.cpu_count(), "load_at_end": [round(x, 2) for x in os.getloadavg()]},
        "args": {k: str(v) for k, v in vars(args).items()},
        "systems": systems,
        "runtime": runtime,
        "summary": summary,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
