"""Run every benchmark mode in its own process on the same stored frames, then compare them."""

from __future__ import annotations

import json
import logging
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from edgekit import __version__
from edgekit.artifacts.manifest import EnsembleManifest
from edgekit.bench.inputs import BenchInputs, prepare
from edgekit.bench.worker import MODES
from edgekit.errors import ConfigError

logger = logging.getLogger(__name__)


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


#: The modes that run edgekit's streaming runtime (``--streams`` applies to them).
RUNTIME_MODES = ("edgekit", "edgekit_predecoded", "edgekit_fp32")


def run_mode(mode: str, inputs: BenchInputs, warmup: int, device: str, streams: int = 1) -> dict[str, Any]:
    """Run one mode in a fresh process on the stored frames; a failure is returned as ``{"failed": reason}``."""
    bundle = inputs.fp32_bundle if mode == "edgekit_fp32" else inputs.bundle
    cmd = [
        sys.executable,
        "-m",
        "edgekit.bench.worker",
        mode,
        "--bundle",
        str(bundle),
        "--frames-file",
        str(inputs.frames.array),
        "--clip",
        str(inputs.frames.clip),
        "--warmup",
        str(warmup),
        "--device",
        device,
    ]
    if inputs.run is not None:
        cmd += ["--run", str(inputs.run)]
    if inputs.positions is not None:
        cmd += ["--positions", str(inputs.positions)]
    if mode in RUNTIME_MODES:
        cmd += ["--streams", str(streams)]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    worker_s = round(time.perf_counter() - t0, 1)  # the whole process: imports, compile, frames
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        return {"failed": lines[-1] if lines else f"exit code {proc.returncode}", "worker_s": worker_s}
    try:
        return {**json.loads(proc.stdout.strip().splitlines()[-1]), "worker_s": worker_s}
    except (json.JSONDecodeError, IndexError):
        return {"failed": f"no result on stdout ({proc.stdout[-200:]!r})", "worker_s": worker_s}


def ratios(results: dict[str, dict[str, Any]], *, fp32_is_bundle: bool = False) -> dict[str, float | None]:
    """The headline ratios of frames/s (None where a side is missing, failed or measured 0).

    Each ratio says which modes it divides; both sides are fed pre-decoded frames unless named:

    * ``<mode>_vs_bound``: every mode against pure inference of the bundle's IR;
      ``edgekit_predecoded_vs_bound`` is the runtime's own overhead;
    * ``edgekit_vs_anomalib``: the runtime decoding the clip against anomalib on pre-decoded frames
      (the decoding counts against edgekit); ``edgekit_fp32_vs_anomalib``: the same without INT8 and
      without decoding on either side;
    * ``fused_vs_naive``: the fused FP32 graph in the runtime against one FP32 IR per position;
    * ``edgekit_vs_naive``: the runtime decoding the clip against the naive mode;
    * ``int8_vs_fp32``: ``edgekit_predecoded`` against ``edgekit_fp32`` (None when the bundle is FP32);
    * ``edgekit_vs_predecoded``: what decoding the clip costs the runtime.

    Args:
        results: Mode -> figures.
        fp32_is_bundle: The bundle under test is FP32 (``edgekit_fp32`` ran the same bundle).

    Returns:
        Ratio name -> value.
    """

    def fps(mode: str) -> float | None:
        value = results.get(mode, {}).get("fps")
        return float(value) if value else None

    def ratio(a: str, b: str) -> float | None:
        fa, fb = fps(a), fps(b)
        return round(fa / fb, 3) if fa and fb else None

    out = {f"{m}_vs_bound": ratio(m, "bound") for m in MODES if m != "bound"}
    out["edgekit_vs_anomalib"] = ratio("edgekit", "anomalib")
    out["edgekit_fp32_vs_anomalib"] = ratio("edgekit_fp32", "anomalib")
    out["fused_vs_naive"] = ratio("edgekit_fp32", "naive")
    out["edgekit_vs_naive"] = ratio("edgekit", "naive")
    out["int8_vs_fp32"] = None if fp32_is_bundle else ratio("edgekit_predecoded", "edgekit_fp32")
    out["edgekit_vs_predecoded"] = ratio("edgekit", "edgekit_predecoded")
    rss = {m: results.get(m, {}).get("peak_rss_mb") for m in MODES}
    for mode in ("edgekit", "edgekit_predecoded", "edgekit_fp32"):
        if rss.get(mode) and rss.get("naive"):
            out[f"{mode}_rss_vs_naive"] = round(rss[mode] / rss["naive"], 3)
    return out


def check_options(modes: tuple[str, ...], frames: int, warmup: int) -> None:
    """Refuse unknown modes and counts out of range, in one line.

    Raises:
        ConfigError: Naming what was wrong and what is accepted.
    """
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes or frames < 1 or warmup < 0:
        msg = (
            f"bench options out of range (modes {','.join(unknown or modes) or 'none'}, frames {frames}, "
            f"warmup {warmup}); accepted: modes from {','.join(MODES)}, frames >= 1, warmup >= 0"
        )
        raise ConfigError(msg)


def bench(
    bundle: Path | None,
    *,
    work: Path,
    source: str | None = None,
    modes: tuple[str, ...] = MODES,
    frames: int = 60,
    warmup: int = 5,
    device: str = "CPU",
    streams: int = 1,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the benchmark.

    Args:
        bundle: The bundle under test (None: build one from the demo data).
        work: Folder for what the benchmark builds.
        source: Video file, image folder, camera or stream (None: the demo video next to the bundle's data).
        modes: Modes to run.
        frames: Measured frames per mode.
        warmup: Frames run before measuring.
        device: OpenVINO device for the OpenVINO modes.
        streams: The runtime modes play the frames as this many sources through one model at once
            (fps and frames then count all streams).
        progress: Show progress bars.

    Returns:
        The JSON-ready result: machine, setup (with the source's decode ms per frame), per-mode
        figures, ratios, failed modes, and modes that measured another number of frames.
    """
    check_options(modes, frames, warmup)
    if streams < 1:
        msg = f"--streams {streams} is out of range; accepted: >= 1 sources at once"
        raise ConfigError(msg)
    info = machine()
    inputs = prepare(bundle, work, source=source, modes=modes, count=frames + warmup, progress=progress)
    results: dict[str, dict[str, Any]] = {}
    bar = tqdm(modes, desc="bench", unit="mode", disable=not progress)
    for mode in bar:
        bar.set_postfix(mode=mode)
        results[mode] = run_mode(mode, inputs, warmup, device, streams)
    manifest = EnsembleManifest.load(inputs.bundle, verify=False)
    return {
        "machine": info,
        "setup": {
            "bundle": str(inputs.bundle),
            "fp32_bundle": str(inputs.fp32_bundle) if inputs.fp32_bundle else None,
            "run": str(inputs.run) if inputs.run else None,
            "source": inputs.frames.source,
            "source_kind": inputs.frames.source_kind,
            "source_frames": inputs.frames.source_frames,
            "source_hw": list(inputs.frames.source_hw),
            "decode_ms": round(inputs.frames.decode_ms, 2),
            "clip": str(inputs.frames.clip),
            "clip_decode_ms": round(inputs.frames.clip_decode_ms, 2),
            "model": manifest.model,
            "backbone": manifest.backbone,
            "grid": str(manifest.grid),
            "precision": manifest.precision,
            "frames": frames,
            "warmup": warmup,
            "device": device,
            "streams": streams,
        },
        "modes": results,
        "ratios": ratios(results, fp32_is_bundle=inputs.fp32_bundle == inputs.bundle),
        "failed": sorted(m for m, r in results.items() if "failed" in r),
        "frames_differ": sorted(
            m
            for m, r in results.items()
            if "failed" not in r and r.get("frames") != frames * (streams if m in RUNTIME_MODES else 1)
        ),
    }
