"""Run an OpenVINO ensemble on whole frames and score it: the FP32-vs-INT8 check and the thresholds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgekit import evaluation
from edgekit._extras import require
from edgekit.artifacts.record import Thresholds
from edgekit.evaluation import aupro, auroc, f1_at
from edgekit.export.calibration import FrameSet
from edgekit.tiling import ScoreRule, TileGrid, join_score, untile

ov = require("openvino", "export")


@dataclass(frozen=True)
class FramePredictions:
    """Joined maps ``[M, H, W]`` and frame scores ``[M]`` of an OpenVINO ensemble."""

    maps: np.ndarray
    scores: np.ndarray


def predict(compiled: Any, frames: FrameSet, grid: TileGrid, rule: str, weights: str = "uniform") -> FramePredictions:
    """Infer every frame's tile batch, join the maps, take the score.

    Args:
        compiled: A compiled model whose input is ``uint8 [N, T, T, 3]``.
        frames: The frames' tiles.
        grid: The tile grid.
        rule: The score rule.
        weights: Overlap weighting of the join.

    Returns:
        Joined maps and scores.
    """
    request = compiled.create_infer_request()
    maps = np.empty((len(frames.tiles), *grid.image_hw), dtype=np.float32)
    scores = np.empty(len(frames.tiles), dtype=np.float32)
    for i, tiles in enumerate(frames.tiles):
        tile_maps = request.infer({0: tiles})[compiled.outputs[0]]
        maps[i] = untile(grid, tile_maps, weights)
        scores[i] = join_score(maps[i], tile_maps, ScoreRule(rule))
    return FramePredictions(maps=maps, scores=scores)


def metrics(preds: FramePredictions, frames: FrameSet, thresholds: Thresholds) -> dict[str, float]:
    """Image AUROC, image F1 at the threshold, pixel AUROC and pixel AUPRO (numpy ports of anomalib's)."""
    return {
        "image_auroc": auroc(preds.scores, frames.labels),
        "image_f1": f1_at(preds.scores, frames.labels, thresholds.image_threshold),
        "pixel_auroc": auroc(preds.maps, frames.masks),
        "pixel_aupro": aupro(preds.maps, frames.masks),
    }


def fit_thresholds(preds: FramePredictions, frames: FrameSet, normal_quantile: float = 0.99) -> Thresholds:
    """Thresholds of the exported model on the validation frames, by the same rules as training."""
    return evaluation.fit_thresholds(
        preds.scores, frames.labels, preds.maps, frames.masks, normal_quantile, f"the exported model's {frames.source}"
    )
