"""``edgekit export``: a run folder in, a self-describing OpenVINO bundle out.

Steps: read the run's whole-frame FP32 graph (hashes checked); score it on the validation frames
(the reference); deploy it (NNCF INT8 within an accuracy budget, FP16 weights, or FP32); score the
deployed graph the same way and refit the thresholds on its own raw outputs; append the
normalization, label and mask (:mod:`edgekit.export.post`); write the IR, ``rt_info`` and
``manifest.json`` atomically (an interrupted export leaves no folder that looks whole), and, when
asked, an OpenVINO Model Server repository (:mod:`edgekit.export.ovms`).
"""

from __future__ import annotations

import logging
import math
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
from edgekit.artifacts.ir import INPUT_NAME, OUTPUT_NAMES, RAW_MAP, RAW_SCORE, to_input
from edgekit.artifacts.manifest import PRECISIONS, EnsembleManifest, JoinRules
from edgekit.artifacts.record import RECORD_NAME, FileEntry, Thresholds, TrainingRecord
from edgekit.errors import ConfigError, EdgekitError
from edgekit.export.accuracy import (
    INFERENCE_PRECISION,
    FramePredictions,
    compile_raw,
    fit_thresholds,
    metrics,
    one_metric,
    predict,
)
from edgekit.export.calibration import FrameSet, calibration_frames, check_frames, validation_frames
from edgekit.export.ir import model_info, read_run_graph, set_model_info
from edgekit.export.ovms import write_ovms_repository
from edgekit.export.post import with_postprocessing
from edgekit.export.quantize import quantize
from edgekit.perf import peak_rss_mb

ov = require("openvino", "export")
logger = logging.getLogger(__name__)

IR_NAME = "ensemble"
#: Default INT8 accuracy budget: largest allowed drop of each metric against FP32 on the check frames.
DEFAULT_BUDGET = {"image_auroc": 0.01, "pixel_aupro": 0.02}


class AccuracyBudgetError(EdgekitError):
    """The deployed model loses more accuracy than the budget allows."""


@dataclass(frozen=True)
class ExportResult:
    """What an export produced.

    Attributes:
        bundle: The bundle folder.
        manifest: Its manifest.
        timing: Wall times of the steps, in seconds.
        ovms: The OVMS repository written beside it, if any.
    """

    bundle: Path
    manifest: EnsembleManifest
    timing: dict[str, float]
    ovms: Path | None = None


@dataclass(frozen=True)
class Scored:
    """A graph's thresholds (fitted on the validation frames) and metrics (on the check frames)."""

    thresholds: Thresholds
    metrics: dict[str, float]


def _score(model: Any, val: FrameSet, check: FrameSet) -> Scored:
    compiled = compile_raw(model)
    on_val = predict(compiled, val.frames)
    thresholds = fit_thresholds(on_val, val)
    on_check = on_val if check is val else predict(compiled, check.frames)
    return Scored(thresholds, metrics(on_check, check, thresholds))


def _drops(reference: dict[str, float], deployed: dict[str, float]) -> dict[str, float]:
    """Drop of each budgeted metric (positive = worse than FP32); NaN where it cannot be computed."""
    return {k: reference[k] - deployed[k] for k in DEFAULT_BUDGET}


def _misses(drops: dict[str, float], budget: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in drops.items() if math.isfinite(v) and v > budget[k] + 1e-9}


def _fp16(model: Any) -> Any:
    """The model with FP16-compressed weights, as the saved bundle will hold them.

    ``ov.save_model(..., compress_to_fp16=True)`` compresses only on the way to disk, so the accuracy
    check must run on a saved and re-read copy: checking ``model`` itself would report a delta of 0.
    The copy is read without mmap so the temporary folder can go at once.
    """
    with tempfile.TemporaryDirectory(prefix="edgekit-fp16-") as folder:
        xml = Path(folder) / "fp16.xml"
        ov.save_model(model, xml, compress_to_fp16=True)
        core = ov.Core()
        core.set_property({"ENABLE_MMAP": False})
        return core.read_model(xml)


def _accuracy_validator(check: FrameSet) -> Any:
    """NNCF accuracy-control validation: pixel AUPRO (image AUROC without masks) of a compiled raw graph."""
    key = "pixel_aupro" if check.masks.any() else "image_auroc"

    def validate(compiled: Any, indices: list[int]) -> float:
        idx = np.asarray(list(indices))
        request = compiled.create_infer_request()
        maps = np.empty((len(idx), *check.frames.shape[1:3]), dtype=np.float32)
        scores = np.empty(len(idx), dtype=np.float32)
        for j, i in enumerate(idx):
            out = request.infer({0: to_input(check.frames[i])})
            maps[j], scores[j] = out[RAW_MAP][0, 0], out[RAW_SCORE][0]
        subset = FrameSet(check.frames[idx], check.labels[idx], check.masks[idx], check.source)
        value = one_metric(key, FramePredictions(maps, scores), subset)
        return float(value) if math.isfinite(value) else 0.0

    return key, validate


def _int8(
    graph: Any,
    calib: FrameSet,
    val: FrameSet,
    check: FrameSet,
    reference: Scored,
    budget: dict[str, float],
) -> tuple[Any, Scored, dict[str, Any]]:
    """Plain PTQ of the trunk; where it misses the budget, NNCF accuracy control on top."""
    deployed = quantize(graph, list(calib.frames), transform=to_input)
    scored = _score(deployed, val, check)
    tried = ["nncf.quantize (trunk in INT8, heads in float)"]
    misses = _misses(_drops(reference.metrics, scored.metrics), budget)
    if misses:
        key, validate = _accuracy_validator(check)
        logger.warning(
            "plain INT8 quantization misses the accuracy budget (%s); retrying with NNCF accuracy control on %s",
            ", ".join(f"{k} -{v:.4f}" for k, v in misses.items()),
            key,
        )
        deployed = quantize(
            graph,
            list(calib.frames),
            transform=to_input,
            max_drop=budget[key],
            validation=list(range(len(check.frames))),
            validate=validate,
        )
        scored = _score(deployed, val, check)
        tried.append(f"nncf.quantize_with_accuracy_control (max_drop {budget[key]} on {key})")
    info = {
        "method": tried[-1],
        "tried": tried,
        "preset": "mixed",
        "calibration_frames": len(calib.frames),
        "float_parts": "heads (distances, join, upsampling, blur, normalization) kept in float",
    }
    return deployed, scored, info


def _deploy(
    graph: Any,
    record: TrainingRecord,
    data: Path,
    precision: str,
    calib_size: int,
    frames: tuple[FrameSet, FrameSet],
    reference: Scored,
    budget: dict[str, float],
) -> tuple[Any, Scored, dict[str, Any]]:
    """The deployed graph at ``precision``, its score, and what was done to it."""
    val, check = frames
    if precision == "int8":
        calib = calibration_frames(record, data, calib_size)
        deployed, scored, info = _int8(graph, calib, val, check, reference, budget)
        info["calibration_frames_asked"] = calib_size
        return deployed, scored, info
    if precision == "fp16":
        deployed = _fp16(graph)
        return deployed, _score(deployed, val, check), {"method": "fp16 weight compression"}
    return graph, reference, {"method": "none"}


def _versions() -> dict[str, str]:
    out = {"edgekit": __version__}
    for name in ("openvino", "nncf", "numpy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def _check_options(precision: str, max_drop: float | None, name: str) -> None:
    if precision not in PRECISIONS:
        msg = f"unknown precision {precision!r}; accepted: {', '.join(PRECISIONS)}"
        raise ConfigError(msg)
    if max_drop is not None and (precision == "fp32" or not 0 < max_drop < 1):
        msg = (
            f"--max-drop {max_drop} with precision {precision} is not accepted; accepted: 0 < drop < 1, "
            "for int8 and fp16 only (an fp32 bundle is the reference itself)"
        )
        raise ConfigError(msg)
    if not name or not all(c.isalnum() or c in "-_." for c in name) or name.startswith("."):
        msg = f"model name {name!r} is not usable as a folder and URL name; accepted: letters, digits, '-', '_', '.'"
        raise ConfigError(msg)


def _budget_error(drops: dict[str, float], budget: dict[str, float], precision: str, tried: list[str]) -> str:
    worst = max(v for v in drops.values() if math.isfinite(v))
    parts = ", ".join(f"{k} -{v:.4f} (allowed {budget[k]})" for k, v in drops.items() if math.isfinite(v))
    return (
        f"{precision.upper()} misses the accuracy budget against FP32: {parts}, after {' then '.join(tried)}; "
        "accepted: export with --precision fp16 or fp32, or allow the drop with "
        f"--max-drop {math.ceil(worst * 100) / 100:.2f}"
    )


def _manifest(
    record: TrainingRecord,
    run: Path,
    data: Path,
    precision: str,
    files: tuple[FileEntry, ...],
    scored: Scored,
    accuracy: dict[str, Any],
    quant_info: dict[str, Any],
    extra: dict[str, Any],
) -> EnsembleManifest:
    join = record.graph["join"]
    h, w = record.grid.image_hw
    return EnsembleManifest(
        model=record.model,
        backbone=record.backbone,
        precision=precision,
        grid=record.grid,
        frames_per_call=1,
        input={"name": INPUT_NAME, "shape": [1, 3, h, w], "dtype": "f32", "layout": "NCHW", "color": "RGB",
               "range": [0.0, 1.0]},
        outputs={
            "pred_score": [1],
            "pred_label": [1],
            "anomaly_map": [1, 1, h, w],
            "pred_mask": [1, 1, h, w],
        },
        files=files,
        join=JoinRules(
            score_rule=join["score_rule"],
            seam_width=int(join.get("seam_width", 0)),
            seam_sigma=float(join.get("seam_sigma", 2.0)),
            weights=join["weights"],
            order=join["order"],
            z_reference=join.get("z_reference", ()),
        ),
        thresholds=scored.thresholds,
        accuracy=accuracy,
        sizes={
            "ir_bytes": sum(f.bytes for f in files),
            "fp32_graph_bytes": sum(f.bytes for f in record.graph_files),
        },
        quantization=quant_info,
        source={"run": str(run.resolve()), "record_sha256": sha256_file(run / RECORD_NAME), "data": str(data)},
        versions=_versions(),
        created_utc=datetime.now(UTC).isoformat(timespec="seconds"),
        extra=extra,
    )


def export_bundle(
    run: Path,
    out: Path,
    *,
    precision: str = "int8",
    calib_size: int = 64,
    max_drop: float | None = None,
    data: Path | None = None,
    ovms: Path | None = None,
    name: str = "edgekit",
) -> ExportResult:
    """Export a trained run to an OpenVINO bundle.

    Args:
        run: The run folder.
        out: The bundle folder to write (replaced if it exists).
        precision: ``int8`` (NNCF PTQ), ``fp16`` (compressed weights) or ``fp32``.
        calib_size: Calibration frames for INT8.
        max_drop: Widen the accuracy budget (default: image AUROC 0.01, pixel AUPRO 0.02) to this drop
            of both metrics.
        data: Dataset folder; defaults to the one the run was trained on.
        ovms: Also write an OpenVINO Model Server repository here.
        name: The model's name in the OVMS repository.

    Returns:
        The bundle, its manifest and timings.

    Raises:
        ConfigError: Unknown precision or options out of range.
        ArtifactError: Missing or altered run.
        DataError: Unusable dataset.
        AccuracyBudgetError: The deployed model drops more than the budget allows.
    """
    _check_options(precision, max_drop, name)
    t0 = time.perf_counter()
    run = Path(run)
    record, graph = read_run_graph(run)
    data = Path(data) if data is not None else Path(record.data["root"])
    val = validation_frames(record, data)
    check = check_frames(record, data)
    budget = {k: max_drop for k in DEFAULT_BUDGET} if max_drop is not None else dict(DEFAULT_BUDGET)
    reference = _score(graph, val, check)
    t_ref = time.perf_counter()
    deployed, scored, quant_info = _deploy(
        graph, record, data, precision, calib_size, (val, check), reference, budget
    )
    quant_info["inference_precision"] = INFERENCE_PRECISION
    t_quant = time.perf_counter()
    drops = _drops(reference.metrics, scored.metrics)
    if precision != "fp32" and _misses(drops, budget):
        tried = quant_info.get("tried", [quant_info["method"]])
        raise AccuracyBudgetError(_budget_error(drops, budget, precision, tried))
    accuracy = {
        "split": check.source,
        "thresholds_split": val.source,
        "n_frames": len(check.labels),
        "fp32": reference.metrics,
        precision: scored.metrics,
        "delta": {k: scored.metrics[k] - reference.metrics[k] for k in reference.metrics},
        "budget": budget,
        "budget_checked": all(math.isfinite(v) for v in drops.values()),
    }
    final = with_postprocessing(deployed, scored.thresholds)
    set_model_info(final, model_info(record, scored.thresholds, precision))
    extra = {
        "graph": "one whole-frame IR: tiling, shared trunk once on all tiles, per-position heads, join, "
        "score, normalization, label and mask",
        "outputs": list(OUTPUT_NAMES),
        "timing_s": {"reference": round(t_ref - t0, 2), "deploy": round(t_quant - t_ref, 2)},
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    with atomic_dir(out) as tmp:
        ov.save_model(final, tmp / f"{IR_NAME}.xml", compress_to_fp16=precision == "fp16")
        files = tuple(
            FileEntry(path=rel, sha256=sha256_file(tmp / rel), bytes=(tmp / rel).stat().st_size)
            for rel in (f"{IR_NAME}.xml", f"{IR_NAME}.bin")
        )
        manifest = _manifest(record, run, data, precision, files, scored, accuracy, quant_info, extra)
        manifest.save(tmp)
    repo = write_ovms_repository(Path(out), Path(ovms), name, manifest) if ovms is not None else None
    timing = {"total_s": round(time.perf_counter() - t0, 2), **manifest.extra["timing_s"]}
    return ExportResult(bundle=Path(out), manifest=manifest, timing=timing, ovms=repo)
