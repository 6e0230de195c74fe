"""Run the exported graph on whole frames and score it: the FP32-vs-deployed check and the thresholds.

The graph is fed exactly as edgekit's runtime feeds it (:func:`edgekit.artifacts.ir.specialize`:
raw uint8 BGR frames in), and its raw joined map and score are read before the post-processing
is appended: the numbers come from the graph itself, not from a second implementation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgekit import evaluation
from edgekit._extras import require
from edgekit.artifacts.ir import RAW_MAP, RAW_SCORE, specialize
from edgekit.artifacts.record import Thresholds
from edgekit.evaluation import METRIC_KEYS, aupro, auroc, split_metrics
from edgekit.export.calibration import FrameSet

ov = require("openvino", "export")

# The heads' distance math loses about 1 % in bf16 (this CPU's default inference precision), so the
# bundle asks the runtime for f32 execution; the INT8 trunk is unaffected by the hint.
INFERENCE_PRECISION = "f32"


@dataclass(frozen=True)
class FramePredictions:
    """Raw joined maps ``[M, H, W]`` and raw frame scores ``[M]`` of the graph."""

    maps: np.ndarray
    scores: np.ndarray


def compile_raw(model: Any) -> Any:
    """Compile a raw-output graph on the CPU for uint8 BGR frames, as the runtime feeds it."""
    return ov.Core().compile_model(specialize(model.clone()), "CPU", {"INFERENCE_PRECISION_HINT": INFERENCE_PRECISION})


def predict(compiled: Any, frames: np.ndarray) -> FramePredictions:
    """Infer every frame with a compiled raw graph (:func:`compile_raw`).

    Args:
        compiled: The compiled model (``uint8 [1, H, W, 3]`` in; ``raw_map``, ``raw_score`` out).
        frames: ``uint8 [M, H, W, 3]`` BGR frames.

    Returns:
        Raw maps and scores.
    """
    request = compiled.create_infer_request()
    maps = np.empty(frames.shape[:3], dtype=np.float32)
    scores = np.empty(len(frames), dtype=np.float32)
    for i, frame in enumerate(frames):
        out = request.infer({0: frame[None]})
        maps[i] = out[RAW_MAP][0, 0]
        scores[i] = out[RAW_SCORE][0]
    return FramePredictions(maps=maps, scores=scores)


def metrics(preds: FramePredictions, frames: FrameSet, thresholds: Thresholds) -> dict[str, float]:
    """The four reported metrics (:data:`~edgekit.evaluation.METRIC_KEYS`), as ``edgekit evaluate`` computes them."""
    report = split_metrics(preds.scores, frames.labels, preds.maps, frames.masks, thresholds)
    return {key: report[key] for key in METRIC_KEYS}


def one_metric(key: str, preds: FramePredictions, frames: FrameSet) -> float:
    """One of :func:`metrics`, computed alone (``pixel_aupro`` or ``image_auroc``; no thresholds needed).

    NNCF accuracy control calls its validation once per quantizer group while ranking: at 5 MP, 32
    frames are 160 M pixels, and computing every metric and fitting thresholds sorted them four
    times where AUPRO needs one sort.
    """
    if key == "pixel_aupro":
        return aupro(preds.maps, frames.masks)
    if key == "image_auroc":
        return auroc(preds.scores, frames.labels)
    msg = f"no single-metric rule for {key!r}; accepted: pixel_aupro, image_auroc"
    raise ValueError(msg)


def fit_thresholds(preds: FramePredictions, frames: FrameSet, normal_quantile: float = 0.99) -> Thresholds:
    """Thresholds of the exported model on the validation frames, by the same rules as training."""
    return evaluation.fit_thresholds(
        preds.scores, frames.labels, preds.maps, frames.masks, normal_quantile, f"the exported model's {frames.source}"
    )
