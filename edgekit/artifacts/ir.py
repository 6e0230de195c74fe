"""The stored IR's interface, written once: what goes in, what comes out, and the load-time specialization.

The bundle holds ONE OpenVINO IR that any standard consumer runs as an anomalib-style anomaly model:

* input ``input``: ``float32 [1, 3, H, W]``, RGB in [0, 1] (anomalib's export convention; Model API
  gets there from a BGR uint8 image with the ``reverse_input_channels`` and ``scale_values`` written
  in ``rt_info['model_info']``);
* outputs ``pred_score [1]`` and ``anomaly_map [1, 1, H, W]`` (normalized to [0, 1], the thresholds
  at 0.5), ``pred_label [1]`` and ``pred_mask [1, 1, H, W]`` (booleans).

edgekit's runtime specializes the read model before compiling (:func:`specialize`): raw ``uint8``
BGR ``[B, H, W, 3]`` camera frames in (the conversion runs inside the compiled graph, no copy in
Python), B frames per call. Needs OpenVINO and numpy only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgekit.errors import ArtifactError

INPUT_NAME = "input"
PRED_SCORE = "pred_score"
PRED_LABEL = "pred_label"
ANOMALY_MAP = "anomaly_map"
PRED_MASK = "pred_mask"
OUTPUT_NAMES = (PRED_SCORE, PRED_LABEL, ANOMALY_MAP, PRED_MASK)
#: The raw outputs of the training graph, before the export adds normalization, label and mask.
RAW_MAP = "raw_map"
RAW_SCORE = "raw_score"


def to_input(frames_bgr: np.ndarray) -> np.ndarray:
    """uint8 BGR ``[B, H, W, 3]`` (or one ``[H, W, 3]``) -> the stored IR's ``float32 [B, 3, H, W]`` RGB in [0, 1].

    What a consumer of the stored IR without edgekit's specialization feeds (anomalib's
    ``OpenVINOInferencer`` does the same from a PNG).
    """
    frames = frames_bgr[None] if frames_bgr.ndim == 3 else frames_bgr
    return np.ascontiguousarray(frames[..., ::-1].transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255.0)


def frame_hw(model: Any) -> tuple[int, int]:
    """``(H, W)`` of a stored model's input.

    Raises:
        ArtifactError: The model does not have the stored IR's input.
    """
    try:
        port = model.input(INPUT_NAME)
    except RuntimeError as error:
        names = [sorted(p.get_names()) for p in model.inputs]
        msg = f"the IR has no input named {INPUT_NAME!r} (inputs: {names}); it was not exported by this edgekit"
        raise ArtifactError(msg) from error
    shape = port.get_partial_shape()
    if shape.rank.get_length() != 4 or shape[2].is_dynamic or shape[3].is_dynamic:
        msg = f"the IR's input {INPUT_NAME!r} has shape {shape}, expected [1, 3, H, W] with static H and W"
        raise ArtifactError(msg)
    return shape[2].get_length(), shape[3].get_length()


def with_batch(model: Any, batch: int | tuple[int, int] = 1) -> Any:
    """The stored model reshaped to take ``batch`` frames per call (float ``[B, 3, H, W]`` RGB in [0, 1]).

    Args:
        model: The ``ov.Model`` read from the bundle.
        batch: Frames per call: a number, or a ``(low, high)`` bound for devices with dynamic shapes.

    Returns:
        The same model, reshaped in place.
    """
    import openvino as ov

    h, w = frame_hw(model)
    if batch != 1:
        dim = ov.Dimension(*batch) if isinstance(batch, tuple) else ov.Dimension(batch)
        model.reshape({INPUT_NAME: ov.PartialShape([dim, ov.Dimension(3), ov.Dimension(h), ov.Dimension(w)])})
    return model


def specialize(model: Any, batch: int | tuple[int, int] = 1) -> Any:
    """The stored model, ready for raw camera frames: ``uint8 [batch, H, W, 3]`` BGR in.

    ``ov.preprocess.PrePostProcessor`` puts the conversion (u8 -> f32, BGR -> RGB, /255, NHWC ->
    NCHW) in front of the graph, where the device runs it; ``reshape`` sets B frames per call.
    The stored file is not changed.

    Args:
        model: The ``ov.Model`` read from the bundle (float ``[1, 3, H, W]`` RGB input).
        batch: Frames per call: a number, or a ``(low, high)`` bound for devices with dynamic shapes
            (a call then holds any number of frames in that range).

    Returns:
        A new model.
    """
    import openvino as ov

    model = with_batch(model, batch)
    ppp = ov.preprocess.PrePostProcessor(model)
    tensor = ppp.input(INPUT_NAME).tensor()
    tensor.set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC")).set_color_format(ov.preprocess.ColorFormat.BGR)
    ppp.input(INPUT_NAME).model().set_layout(ov.Layout("NCHW"))
    steps = ppp.input(INPUT_NAME).preprocess()
    steps.convert_element_type(ov.Type.f32).convert_color(ov.preprocess.ColorFormat.RGB).scale(255.0)
    return ppp.build()
