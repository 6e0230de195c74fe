"""The metrics ``edgekit evaluate`` and training report, and thresholds from validation.

All of them are :mod:`edgekit.evaluation`'s numpy ports of anomalib's metric classes, the same
functions export's accuracy check uses. Training used to call anomalib's classes directly; on a
5 MP test split (300 M pixels) those need more than 23 GB and were killed, while the ports need
one float32 copy of the pixels (benchmarks/pixel_metrics.py). The ports are tested against
anomalib's classes to 1e-6, including the raw-score case where torchmetrics' sigmoid would
saturate (tests/unit/export/test_evaluation_vs_anomalib.py, tests/unit/train/test_metrics.py).
"""

from __future__ import annotations

import numpy as np

from edgekit.artifacts.record import Thresholds
from edgekit.evaluation import aupro, auroc, f1_adaptive_threshold, f1_at, f1_max, fit_thresholds

__all__ = ["aupro", "auroc", "evaluate", "f1_adaptive_threshold", "f1_at", "fit_thresholds"]


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
    return {
        "image_auroc": auroc(scores, labels),
        "image_f1": f1_at(scores, labels, thresholds.image_threshold),
        "pixel_auroc": auroc(maps, masks),
        "pixel_aupro": aupro(maps, masks),
        "image_f1_max": f1_max(scores, labels),
    }
