"""The post-processing every consumer of the bundle gets: normalization, label and mask, as graph ops.

Appended to the quantized graph once the thresholds are fitted on its own raw outputs, so Model
API, anomalib's inferencer, OVMS and edgekit's runtime all read the same four outputs. The rule is
anomalib's min-max normalization, ``clip((x - threshold) / (max - min) + 0.5, 0, 1)``, with the
image statistics for the score and the pixel statistics for the map; a frame (pixel) is anomalous
when its normalized value is above 0.5, i.e. its raw value is above its threshold.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgekit._extras import require
from edgekit.artifacts.ir import ANOMALY_MAP, PRED_LABEL, PRED_MASK, PRED_SCORE, RAW_MAP, RAW_SCORE
from edgekit.artifacts.record import Thresholds
from edgekit.errors import ArtifactError

ov = require("openvino", "export")
ops = require("openvino.opset13", "export")


def _const(value: float) -> Any:
    return ops.constant(np.float32(value))


def _normalize(x: Any, threshold: float, lo: float, hi: float, name: str) -> Any:
    """``clip((x - t) / span + 0.5, 0, 1)``; a NaN or infinite raw value comes out as NaN, never clipped away.

    ``x - x`` is 0 for every finite value and NaN for NaN and infinities, so adding it keeps a broken
    raw value visible to the consumer (edgekit's runtime fails that frame) instead of turning an
    infinite distance into a confident 1.0 or a NaN into "normal".
    """
    span = hi - lo if hi > lo else 1.0
    scaled = ops.add(ops.multiply(ops.subtract(x, _const(threshold)), _const(1.0 / span)), _const(0.5))
    clipped = ops.clamp(scaled, 0.0, 1.0)
    out = ops.add(clipped, ops.subtract(x, x), name=name)
    return out


def with_postprocessing(model: Any, thresholds: Thresholds) -> Any:
    """A new model with anomalib's four outputs in place of the raw map and score.

    Args:
        model: The graph with outputs ``raw_map [B, 1, H, W]`` and ``raw_score [B]``.
        thresholds: Thresholds and normalization statistics fitted on this model's raw outputs.

    Returns:
        The model with outputs ``pred_score``, ``pred_label``, ``anomaly_map``, ``pred_mask``.
    """
    t = thresholds
    model = model.clone()
    sources = {}
    for name in (RAW_MAP, RAW_SCORE):
        result = model.output(name).get_node()
        sources[name] = result.input_value(0)
        sources[name].get_tensor().set_names(set())  # the raw values stay inside, unnamed
        model.remove_result(result)
    raw_map, raw_score = sources[RAW_MAP], sources[RAW_SCORE]
    score = _normalize(raw_score, t.image_threshold, t.image_min, t.image_max, PRED_SCORE)
    amap = _normalize(raw_map, t.pixel_threshold, t.pixel_min, t.pixel_max, ANOMALY_MAP)
    label = ops.greater(score, _const(0.5), name=PRED_LABEL)
    mask = ops.greater(amap, _const(0.5), name=PRED_MASK)
    outputs = []
    for node, name in ((score, PRED_SCORE), (label, PRED_LABEL), (amap, ANOMALY_MAP), (mask, PRED_MASK)):
        result = ops.result(node)
        result.output(0).get_tensor().set_names({name})
        outputs.append(result)
    model.add_results(outputs)
    model.set_friendly_name("edgekit_tiled_ensemble")
    return model


def raw_outputs(model: Any) -> Any:
    """The inverse of :func:`with_postprocessing`: a new model whose outputs are ``raw_map`` and ``raw_score``.

    A bundle's graph keeps the raw values inside: each normalized output is ``clamp(...) + (x - x)``
    with ``x`` the raw value (see :func:`_normalize`). Metrics need them, since clipping to [0, 1]
    ties every value beyond the fitted range.

    Args:
        model: A bundle's ``ov.Model`` (outputs ``pred_score``, ``pred_label``, ``anomaly_map``, ``pred_mask``).

    Returns:
        The model with outputs ``raw_map [B, 1, H, W]`` and ``raw_score [B]`` only.

    Raises:
        ArtifactError: The graph's outputs are not the ones :func:`with_postprocessing` builds.
    """
    model = model.clone()
    names = {name for out in model.outputs for name in out.get_names()}
    if not {PRED_SCORE, ANOMALY_MAP} <= names:
        msg = f"not an edgekit bundle graph: outputs {sorted(names)}; expected {PRED_SCORE} and {ANOMALY_MAP}"
        raise ArtifactError(msg)
    raw = {}
    for normalized, name in ((ANOMALY_MAP, RAW_MAP), (PRED_SCORE, RAW_SCORE)):
        add = model.output(normalized).get_node().input_value(0).get_node()
        keep = add.input_value(1).get_node() if add.get_type_name() == "Add" else None
        if keep is None or keep.get_type_name() != "Subtract" or keep.input_value(0) != keep.input_value(1):
            msg = f"output {normalized} is not edgekit's normalization (clamp(...) + (x - x)); cannot recover {name}"
            raise ArtifactError(msg)
        raw[name] = keep.input_value(0)
    for result in list(model.get_results()):
        model.remove_result(result)
    outputs = []
    for name, source in raw.items():
        result = ops.result(source)
        result.output(0).get_tensor().set_names({name})
        outputs.append(result)
    model.add_results(outputs)
    return model
