"""The metrics ``edgekit evaluate`` and training report, and thresholds from validation.

All of them are :mod:`edgekit.evaluation`'s numpy ports of anomalib's metric classes, the same
functions export's accuracy check uses. Training used to call anomalib's classes directly; on a
5 MP test split (300 M pixels) those need more than 23 GB and were killed, while the ports need
one float32 copy of the pixels (benchmarks/pixel_metrics.py). The ports are tested against
anomalib's classes to 1e-6, including the raw-score case where torchmetrics' sigmoid would
saturate (tests/unit/export/test_evaluation_vs_anomalib.py, tests/unit/train/test_metrics.py).
"""

from __future__ import annotations

from edgekit.evaluation import aupro, auroc, f1_adaptive_threshold, f1_at, fit_thresholds
from edgekit.evaluation import split_metrics as evaluate

__all__ = ["aupro", "auroc", "evaluate", "f1_adaptive_threshold", "f1_at", "fit_thresholds"]
