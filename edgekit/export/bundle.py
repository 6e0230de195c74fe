"""``edgekit export``: a run folder in, a self-describing OpenVINO bundle out.

Steps: read the run's FP32 graph (hashes checked), bake in the uint8 BGR NHWC preprocessing,
quantize (INT8, NNCF) or compress (FP16) or keep (FP32), run the exported model and the FP32 model
on the validation frames, refit thresholds on the exported model's own scores, and write the IR
plus ``manifest.json`` atomically (an interrupted export leaves no folder that looks whole).
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from edgekit import __version__
from edgekit._extras import require
from edgekit.artifacts.files import atomic_dir, sha256_file
from edgekit.artifacts.manifest import PRECISIONS, EnsembleManifest, JoinRules
from edgekit.artifacts.record import RECORD_NAME, FileEntry
from edgekit.errors import ConfigError
from edgekit.export.accuracy import fit_thresholds, metrics, predict
from edgekit.export.calibration import FrameSet, calibration_frames, validation_frames
from edgekit.export.ir import read_run_graph, set_model_info, with_preprocessing
from edgekit.export.quantize import quantize
from edgekit.perf import peak_rss_mb

ov = require("openvino", "export")
logger = logging.getLogger(__name__)

# The heads' distance math loses about 1 % in bf16 (this CPU's default inference precision), so the
# bundle asks the runtime for f32 execution; the INT8 trunk is unaffected by the hint.
INFERENCE_PRECISION = "f32"


@dataclass(frozen=True)
class ExportResult:
    """What an export produced.

    Attributes:
        bundle: The bundle folder.
        manifest: Its manifest.
        timing: Wall times of the steps, in seconds.
    """

    bundle: Path
    manifest: EnsembleManifest
    timing: dict[str, float]


def _compile(model: Any) -> Any:
    return ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": INFERENCE_PRECISION})


def _fp16(model: Any) -> Any:
    """The model with FP16-compressed weights, as the saved bundle will hold them.

    ``ov.save_model(..., compress_to_fp16=True)`` compresses only on the way to disk, so the accuracy
    check must run on a saved and re-read copy: checking ``model`` itself would report a delta of 0.
    The copy is read without mmap so the temporary folder can go at once (Windows cannot delete
    mapped files).
    """
    with tempfile.TemporaryDirectory(prefix="edgekit-fp16-") as folder:
        xml = Path(folder) / "fp16.xml"
        ov.save_model(model, xml, compress_to_fp16=True)
        core = ov.Core()
        core.set_property({"ENABLE_MMAP": False})
        return core.read_model(xml)


def _versions() -> dict[str, str]:
    out = {"edgekit": __version__}
    for name in ("openvino", "nncf", "numpy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def _accuracy_validator(val: FrameSet, grid: Any, rule: str, weights: str) -> tuple[list[Any], Any]:
    """Validation items and function for NNCF accuracy control (pixel AUPRO, or image AUROC)."""
    items = list(range(len(val.tiles)))

    def validate(compiled: Any, indices: list[int]) -> float:
        idx = np.asarray(list(indices))
        subset = FrameSet(val.tiles[idx], val.labels[idx], val.masks[idx], val.source)
        preds = predict(compiled, subset, grid, rule, weights)
        scores = metrics(preds, subset, fit_thresholds(preds, subset))
        value = scores["pixel_aupro"] if subset.masks.any() else scores["image_auroc"]
        return float(value) if value == value else 0.0

    # NNCF hands dataset items to the validation function; we give it frame indices
    return items, validate


def export_bundle(
    run: Path,
    out: Path,
    *,
    precision: str = "int8",
    calib_size: int = 64,
    max_drop: float | None = None,
    data: Path | None = None,
) -> ExportResult:
    """Export a trained run to an OpenVINO bundle.

    Args:
        run: The run folder.
        out: The bundle folder to write (replaced if it exists).
        precision: ``int8`` (NNCF PTQ), ``fp16`` (compressed weights) or ``fp32``.
        calib_size: Calibration frames for INT8 (each gives N tiles).
        max_drop: INT8 only: allowed absolute drop of the validation metric (accuracy control).
        data: Dataset folder; defaults to the one the run was trained on.

    Returns:
        The bundle, its manifest and timings.

    Raises:
        ConfigError: Unknown precision or options that do not fit it.
        ArtifactError: Missing or altered run.
        DataError: Unusable dataset.
    """
    if precision not in PRECISIONS:
        msg = f"unknown precision {precision!r}; accepted: {', '.join(PRECISIONS)}"
        raise ConfigError(msg)
    if max_drop is not None and (precision != "int8" or not 0 < max_drop < 1):
        msg = f"--max-drop {max_drop} applies to int8 only and must be in (0, 1)"
        raise ConfigError(msg)
    t0 = time.perf_counter()
    run = Path(run)
    record, fp32_graph = read_run_graph(run)
    data = Path(data) if data is not None else Path(record.data["root"])
    model = with_preprocessing(fp32_graph, record)
    val = validation_frames(record, data)
    grid, rule = record.grid, record.score_rule
    weights = record.options.get("join_weights", "uniform")
    fp32_preds = predict(_compile(model), val, grid, rule, weights)
    fp32_thresholds = fit_thresholds(fp32_preds, val)
    fp32_metrics = metrics(fp32_preds, val, fp32_thresholds)
    t_ref = time.perf_counter()
    quant_info: dict[str, Any] = {"inference_precision": INFERENCE_PRECISION}
    if precision == "int8":
        calib = calibration_frames(record, data, calib_size)
        items, validate = _accuracy_validator(val, grid, rule, weights)
        deployed = quantize(
            model,
            list(calib.tiles),
            max_drop=max_drop,
            validation=items if max_drop is not None else None,
            validate=validate if max_drop is not None else None,
        )
        quant_info.update(
            {
                "method": "nncf.quantize_with_accuracy_control" if max_drop is not None else "nncf.quantize",
                "preset": "mixed",
                "calibration_frames": len(calib.tiles),
                "calibration_frames_asked": calib_size,
                "calibration_tiles_per_position": len(calib.tiles),
                "max_drop": max_drop,
                "float_parts": "heads (MatMul, distances, upsampling, blur) kept in float",
            }
        )
    else:
        deployed = _fp16(model) if precision == "fp16" else model
        quant_info["method"] = "fp16 weight compression" if precision == "fp16" else "none"
    t_quant = time.perf_counter()
    preds = predict(_compile(deployed), val, grid, rule, weights)
    thresholds = fit_thresholds(preds, val)
    deployed_metrics = metrics(preds, val, thresholds)
    accuracy = {
        "split": val.source,
        "n_frames": len(val.labels),
        "fp32": fp32_metrics,
        precision: deployed_metrics,
        "delta": {k: deployed_metrics[k] - fp32_metrics[k] for k in fp32_metrics},
    }
    t_eval = time.perf_counter()
    set_model_info(
        deployed,
        {
            "model_type": "anomaly_detection",
            "task": "segmentation",
            "labels": "Normal Anomaly",
            "image_threshold": thresholds.image_threshold,
            "pixel_threshold": thresholds.pixel_threshold,
            "min": thresholds.pixel_min,
            "max": thresholds.pixel_max,
            "normalization_scale": thresholds.pixel_max - thresholds.pixel_min,
            "edgekit_grid": grid.to_dict(),
            "edgekit_version": __version__,
            "edgekit_note": "input is the uint8 BGR NHWC tile batch of one frame; see manifest.json",
        },
    )
    with atomic_dir(out) as tmp:
        ov.save_model(deployed, tmp / "ensemble.xml", compress_to_fp16=precision == "fp16")
        files = tuple(
            FileEntry(path=name, sha256=sha256_file(tmp / name), bytes=(tmp / name).stat().st_size)
            for name in ("ensemble.xml", "ensemble.bin")
        )
        n, (t_h, t_w) = grid.n_tiles, grid.tile_hw
        manifest = EnsembleManifest(
            model=record.model,
            backbone=record.backbone,
            precision=precision,
            grid=grid,
            frames_per_call=int(record.graph.get("frames_per_call", 1)),
            input={"name": "tiles", "shape": [n, t_h, t_w, 3], "dtype": "u8", "layout": "NHWC", "color": "BGR"},
            outputs={"maps": [n, 1, t_h, t_w], "scores": [n]},
            files=files,
            join=JoinRules(score_rule=rule, weights=weights),
            thresholds=thresholds,
            accuracy=accuracy,
            sizes={
                "ir_bytes": sum(f.bytes for f in files),
                "fp32_graph_bytes": sum(f.bytes for f in record.graph_files),
            },
            quantization=quant_info,
            source={
                "run": str(run.resolve()),
                "record_sha256": sha256_file(run / RECORD_NAME),
                "data": str(data),
            },
            versions=_versions(),
            created_utc=datetime.now(UTC).isoformat(timespec="seconds"),
            extra={
                "graph": "fused: one IR, the shared trunk runs once on the N tiles of a frame, then N heads",
                "timing_s": {
                    "reference": round(t_ref - t0, 2),
                    "quantize": round(t_quant - t_ref, 2),
                    "evaluate": round(t_eval - t_quant, 2),
                },
                "peak_rss_mb": round(peak_rss_mb(), 1),
            },
        )
        manifest.save(tmp)
    timing = {"total_s": round(time.perf_counter() - t0, 2), **manifest.extra["timing_s"]}
    return ExportResult(bundle=Path(out), manifest=manifest, timing=timing)
