"""Thresholds from validation and the four reported metrics, computed with anomalib's own metric classes.

anomalib's AUROC (torchmetrics' ROC) applies a sigmoid to predictions outside [0, 1]; raw PaDiM
scores (tens to hundreds) saturate to 1.0 in float32 and AUROC collapses to 0.5. Inside anomalib's
Engine this never shows because metrics run after min-max normalization, so we min-max (a
monotone map, AUROC unchanged) before calling it, as the Engine effectively does.
"""

from __future__ import annotations

import warnings

import numpy as np

from edgekit import evaluation
from edgekit._extras import require
from edgekit.artifacts.record import Thresholds
from edgekit.evaluation import f1_at

torch = require("torch", "train")


def _unit(x: np.ndarray) -> torch.Tensor:
    lo, hi = float(x.min()), float(x.max())
    t = torch.from_numpy(np.asarray(x, dtype=np.float32))
    return (t - lo) / (hi - lo) if hi > lo else torch.zeros_like(t)


def auroc(preds: np.ndarray, target: np.ndarray) -> float:
    """Area under the ROC curve (anomalib ``_AUROC``), NaN where only one class is present."""
    if target.min() == target.max():
        return float("nan")
    metric = require("anomalib.metrics.auroc", "train")._AUROC()
    metric.update(_unit(preds).flatten(), torch.from_numpy(np.asarray(target)).flatten().int())
    return float(metric.compute())


def aupro(maps: np.ndarray, masks: np.ndarray, fpr_limit: float = 0.3) -> float:
    """Area under the per-region-overlap curve up to ``fpr_limit`` (anomalib ``_AUPRO``)."""
    if masks.max() == 0:
        return float("nan")
    metric = require("anomalib.metrics.aupro", "train")._AUPRO(fpr_limit=fpr_limit)
    metric.update(torch.from_numpy(maps.astype(np.float32)), torch.from_numpy(masks.astype(np.int32)))
    return float(metric.compute())


def f1_adaptive_threshold(preds: np.ndarray, target: np.ndarray) -> float:
    """The threshold maximizing F1 (anomalib ``_F1AdaptiveThreshold``)."""
    module = require("anomalib.metrics.threshold.f1_adaptive_threshold", "train")
    metric = module._F1AdaptiveThreshold()
    metric.update(torch.from_numpy(np.asarray(preds, np.float32)).flatten(), torch.from_numpy(target).flatten().int())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(metric.compute())


def fit_thresholds(
    scores: np.ndarray,
    labels: np.ndarray,
    maps: np.ndarray,
    masks: np.ndarray,
    normal_quantile: float,
    source: str,
) -> Thresholds:
    """:func:`edgekit.evaluation.fit_thresholds` with anomalib's own F1-adaptive threshold class."""
    return evaluation.fit_thresholds(
        scores, labels, maps, masks, normal_quantile, source, threshold_fn=f1_adaptive_threshold
    )


def evaluate(
    scores: np.ndarray, labels: np.ndarray, maps: np.ndarray, masks: np.ndarray, thresholds: Thresholds
) -> dict[str, float]:
    """The four reported metrics plus image F1-max.

    Args:
        scores: Raw frame scores ``[M]``.
        labels: ``[M]`` 0/1.
        maps: Raw joined maps ``[M, H, W]``.
        masks: ``[M, H, W]`` 0/1.
        thresholds: Thresholds from validation (image F1 is taken at the image threshold).

    Returns:
        ``image_auroc``, ``image_f1``, ``pixel_auroc``, ``pixel_aupro``, ``image_f1_max``.
    """
    f1max = require("anomalib.metrics.f1_score", "train")._F1Max()
    f1max.update(torch.from_numpy(scores.astype(np.float32)), torch.from_numpy(labels).int())
    return {
        "image_auroc": auroc(scores, labels),
        "image_f1": f1_at(scores, labels, thresholds.image_threshold),
        "pixel_auroc": auroc(maps, masks),
        "pixel_aupro": aupro(maps, masks),
        "image_f1_max": float(f1max.compute()) if 0 < labels.sum() < len(labels) else float("nan"),
    }
