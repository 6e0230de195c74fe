"""The run's FP32 graph with preprocessing baked in: raw uint8 BGR NHWC tiles in, maps and scores out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit._extras import require
from edgekit.artifacts.record import TrainingRecord
from edgekit.errors import ArtifactError

ov = require("openvino", "export")


def read_run_graph(run: Path) -> tuple[TrainingRecord, Any]:
    """Read a run folder's record (hashes checked) and its FP32 inference graph.

    Args:
        run: The run folder written by ``edgekit train``.

    Returns:
        The record and the ``ov.Model``, its input fixed to the record's static shape.

    Raises:
        ArtifactError: Missing, altered or graph-less run.
    """
    record = TrainingRecord.load(run)
    if not record.graph_files:
        msg = f"run {run} has no inference graph (graph/ensemble.xml); re-train it with this edgekit version"
        raise ArtifactError(msg)
    model = ov.Core().read_model(Path(run) / record.graph["xml"])
    # ov.convert_model leaves every input dimension dynamic; the runtime feeds exactly this shape, NPU
    # compiles only static shapes, and the manifest promises it, so fix it here.
    shape = record.graph.get("input", {}).get("shape")
    if shape and model.inputs[0].get_partial_shape().is_dynamic:
        model.reshape({0: ov.PartialShape(list(shape))})
    return record, model


def with_preprocessing(model: Any, record: TrainingRecord) -> Any:
    """Bake the tile preprocessing into the graph with ``ov.preprocess.PrePostProcessor``.

    The runtime then feeds tiles exactly as :func:`edgekit.tiling.tile` cuts them from an OpenCV
    frame: ``uint8 [K*N, T, T, 3]`` BGR. No resize: tiles arrive at their native size.

    Args:
        model: The FP32 graph (``f32 [K*N, 3, T, T]`` normalized RGB input).
        record: The training record (its graph section holds mean and scale).

    Returns:
        A new model with the uint8 input.
    """
    spec = record.graph["input"]
    ppp = ov.preprocess.PrePostProcessor(model)
    tensor = ppp.input().tensor()
    tensor.set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC")).set_color_format(ov.preprocess.ColorFormat.BGR)
    ppp.input().model().set_layout(ov.Layout("NCHW"))
    steps = ppp.input().preprocess()
    steps.convert_element_type(ov.Type.f32).convert_color(ov.preprocess.ColorFormat.RGB)
    steps.mean(spec["mean"]).scale(spec["scale"])
    built = ppp.build()
    built.inputs[0].get_tensor().set_names({"tiles"})
    return built


def set_model_info(model: Any, info: dict[str, Any]) -> None:
    """Write ``rt_info['model_info']`` so a single IR describes itself (OpenVINO Model API reads it)."""
    for key, value in info.items():
        model.set_rt_info(str(value), ["model_info", key])
