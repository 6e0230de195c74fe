"""Run every benchmark mode in its own process on the same frames, then compare them."""

from __future__ import annotations

import json
import logging
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from edgekit import __version__
from edgekit.artifacts.manifest import EnsembleManifest
from edgekit.errors import ArtifactError, ConfigError

logger = logging.getLogger(__name__)

MODES = ("bound", "edgekit", "edgekit_fp32", "naive", "anomalib")


@dataclass(frozen=True)
class BenchInputs:
    """What the modes run on.

    Attributes:
        bundle: The INT8 (or any) bundle under test.
        fp32_bundle: The same ensemble unquantized.
        run: The training run (per-position models for naive and anomalib).
        video: The frames.
    """

    bundle: Path
    fp32_bundle: Path
    run: Path
    video: Path


def machine() -> dict[str, Any]:
    """The machine the figures come from."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        meminfo = Path("/proc/meminfo").read_text().splitlines()
        mem_kb = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal"))
    except (OSError, StopIteration):
        mem_kb = 0
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = -1.0
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg_1m_at_start": round(load, 2),
        "edgekit": __version__,
    }


def prepare(bundle: Path | None, work: Path, progress: bool) -> BenchInputs:
    """Find or build what the modes need: bundle, FP32 bundle, run with per-position IRs, video.

    Without a bundle, the demo data is generated and a 3x3 PaDiM ensemble trained and exported.

    Args:
        bundle: The bundle under test, or None to build one from the demo data.
        work: Folder for what the benchmark builds.
        progress: Show progress bars.

    Returns:
        The inputs.
    """
    from edgekit.export.bundle import export_bundle
    from edgekit.train.graph import write_position_graphs
    from edgekit.train.run_io import load_run

    work.mkdir(parents=True, exist_ok=True)
    if bundle is None:
        from edgekit.demo import generate_demo_data
        from edgekit.train.config import TrainConfig
        from edgekit.train.fit import train

        data_root = work / "data"
        if not (data_root / "demo.json").is_file():
            generate_demo_data(data_root, size=512, categories=["coffee"], progress=progress)
        run = work / "run"
        if not (run / "training.json").is_file():
            train(TrainConfig(data=data_root / "coffee", out=run, progress=progress))
        bundle = work / "bundle_int8"
        if not (bundle / "manifest.json").is_file():
            export_bundle(run, bundle, precision="int8")
    manifest = EnsembleManifest.load(bundle)
    run = Path(manifest.source["run"])
    if not (run / "training.json").is_file():
        msg = (
            f"bundle {bundle} was exported from run {run}, which no longer exists; the naive and anomalib modes need it"
        )
        raise ArtifactError(msg)
    data = Path(manifest.source["data"])
    sidecar = data / "stream.json"
    if not sidecar.is_file():
        msg = f"no demo video next to the bundle's data ({sidecar} missing); accepted: data made by edgekit demo-data"
        raise ConfigError(msg)
    video = data / json.loads(sidecar.read_text())["video"]
    fp32 = bundle if manifest.precision == "fp32" else work / f"{bundle.name}_fp32"
    if not (fp32 / "manifest.json").is_file():
        export_bundle(run, fp32, precision="fp32", data=data)
    positions = run / "graph" / "positions"
    if not (positions / "p00.xml").is_file():
        _, ensemble = load_run(run)
        write_position_graphs(ensemble, positions)
    return BenchInputs(bundle=bundle, fp32_bundle=fp32, run=run, video=video)


def run_mode(mode: str, inputs: BenchInputs, frames: int, warmup: int, device: str) -> dict[str, Any]:
    """Run one mode in a fresh process; a failure is returned as ``{"failed": reason}``."""
    bundle = inputs.fp32_bundle if mode == "edgekit_fp32" else inputs.bundle
    cmd = [
        sys.executable,
        "-m",
        "edgekit.bench.worker",
        mode,
        "--bundle",
        str(bundle),
        "--run",
        str(inputs.run),
        "--video",
        str(inputs.video),
        "--frames",
        str(frames),
        "--warmup",
        str(warmup),
        "--device",
        device,
    ]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        return {"failed": lines[-1] if lines else f"exit code {proc.returncode}"}
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        return {"failed": f"no result on stdout ({proc.stdout[-200:]!r})"}


def ratios(results: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    """The headline ratios of frames/s."""

    def fps(mode: str) -> float | None:
        value = results.get(mode, {}).get("fps")
        return float(value) if value else None

    def ratio(a: str, b: str) -> float | None:
        fa, fb = fps(a), fps(b)
        return round(fa / fb, 3) if fa and fb else None

    out = {f"{m}_vs_bound": ratio(m, "bound") for m in MODES if m != "bound"}
    out["edgekit_vs_anomalib"] = ratio("edgekit", "anomalib")
    # same precision on both sides: the fused FP32 graph in the runtime vs one FP32 IR per position
    out["fused_vs_naive"] = ratio("edgekit_fp32", "naive")
    out["edgekit_vs_naive"] = ratio("edgekit", "naive")
    out["int8_vs_fp32"] = ratio("edgekit", "edgekit_fp32")
    rss = {m: results.get(m, {}).get("peak_rss_mb") for m in MODES}
    for mode in ("edgekit", "edgekit_fp32"):
        if rss.get(mode) and rss.get("naive"):
            out[f"{mode}_rss_vs_naive"] = round(rss[mode] / rss["naive"], 3)
    return out


def bench(
    bundle: Path | None,
    *,
    work: Path,
    modes: tuple[str, ...] = MODES,
    frames: int = 60,
    warmup: int = 5,
    device: str = "CPU",
    progress: bool = True,
) -> dict[str, Any]:
    """Run the benchmark.

    Args:
        bundle: The bundle under test (None: build one from the demo data).
        work: Folder for what the benchmark builds.
        modes: Modes to run.
        frames: Measured frames per mode.
        warmup: Frames run before measuring.
        device: OpenVINO device for the OpenVINO modes.
        progress: Show progress bars.

    Returns:
        The JSON-ready result: machine, inputs, per-mode figures, ratios.
    """
    unknown = [m for m in modes if m not in MODES]
    if unknown or frames < 1 or warmup < 0:
        msg = (
            f"bench options out of range (modes {unknown or modes}, frames {frames}, warmup {warmup}); "
            f"accepted: modes {', '.join(MODES)}, frames >= 1, warmup >= 0"
        )
        raise ConfigError(msg)
    info = machine()
    inputs = prepare(bundle, work, progress)
    results: dict[str, dict[str, Any]] = {}
    bar = tqdm(modes, desc="bench", unit="mode", disable=not progress)
    for mode in bar:
        bar.set_postfix(mode=mode)
        results[mode] = run_mode(mode, inputs, frames, warmup, device)
    manifest = EnsembleManifest.load(inputs.bundle, verify=False)
    return {
        "machine": info,
        "setup": {
            "bundle": str(inputs.bundle),
            "fp32_bundle": str(inputs.fp32_bundle),
            "run": str(inputs.run),
            "video": str(inputs.video),
            "model": manifest.model,
            "backbone": manifest.backbone,
            "grid": str(manifest.grid),
            "precision": manifest.precision,
            "frames": frames,
            "warmup": warmup,
            "device": device,
        },
        "modes": results,
        "ratios": ratios(results),
        "failed": sorted(m for m, r in results.items() if "failed" in r),
    }
