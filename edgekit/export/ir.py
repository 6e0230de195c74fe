"""The run's whole-frame FP32 graph, and the self-description written into the stored IR."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit._extras import require
from edgekit.artifacts.ir import INPUT_NAME, RAW_MAP, RAW_SCORE, frame_hw
from edgekit.artifacts.record import Thresholds, TrainingRecord
from edgekit.errors import ArtifactError

ov = require("openvino", "export")


def read_run_graph(run: Path) -> tuple[TrainingRecord, Any]:
    """Read a run folder's record (hashes checked) and its whole-frame FP32 graph.

    Args:
        run: The run folder written by ``edgekit train``.

    Returns:
        The record and the ``ov.Model`` (``input`` float ``[1, 3, H, W]``; ``raw_map``, ``raw_score``).

    Raises:
        ArtifactError: Missing, altered or graph-less run, or one from an earlier edgekit.
    """
    record = TrainingRecord.load(run)
    if not record.graph_files or "join" not in record.graph:
        msg = f"run {run} has no whole-frame graph (graph/frame.xml); train it again with this edgekit version"
        raise ArtifactError(msg)
    model = ov.Core().read_model(Path(run) / record.graph["xml"])
    names = {name for port in model.outputs for name in port.get_names()}
    if {RAW_MAP, RAW_SCORE} - names or frame_hw(model) != record.grid.image_hw:
        msg = f"run {run}: graph/frame.xml does not match its record (outputs {sorted(names)}); train it again"
        raise ArtifactError(msg)
    return record, model


def model_info(record: TrainingRecord, thresholds: Thresholds, precision: str) -> dict[str, Any]:
    """``rt_info['model_info']`` for OpenVINO Model API's ``AnomalyDetection`` and other readers.

    Model API reads ``model_type``, ``labels``, ``task``, the thresholds and ``normalization_scale``
    and the preprocessing keys: with ``reverse_input_channels`` and ``scale_values`` 255 it turns a
    BGR uint8 image into the RGB [0, 1] input the graph takes. The four anomalib outputs are already
    normalized, so Model API uses them as they are. The normalized thresholds are 0.5.
    """
    h, w = record.grid.image_hw
    return {
        "model_type": "AnomalyDetection",
        "task": "segmentation",
        "labels": "Normal Anomaly",
        "image_threshold": 0.5,
        "pixel_threshold": 0.5,
        "normalization_scale": 1.0,
        "reverse_input_channels": True,
        "mean_values": "0 0 0",
        "scale_values": "255 255 255",
        "resize_type": "standard",
        "orig_height": h,
        "orig_width": w,
        "edgekit_input": INPUT_NAME,
        "edgekit_model": record.model,
        "edgekit_backbone": record.backbone,
        "edgekit_precision": precision,
        "edgekit_grid": record.grid.to_dict(),
        "edgekit_raw_image_threshold": thresholds.image_threshold,
        "edgekit_raw_pixel_threshold": thresholds.pixel_threshold,
    }


def set_model_info(model: Any, info: dict[str, Any]) -> None:
    """Write ``rt_info['model_info']`` so the single IR describes itself."""
    for key, value in info.items():
        text = str(value) if not isinstance(value, bool) else ("True" if value else "False")
        model.set_rt_info(text, ["model_info", key])
