"""Accuracy control's validation computes only the metric it guards, with the value metrics() gives."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.export.accuracy import FramePredictions, fit_thresholds, metrics, one_metric
from edgekit.export.calibration import FrameSet


def _case(seed: int) -> tuple[FramePredictions, FrameSet]:
    rng = np.random.default_rng(seed)
    labels = np.array([0, 0, 0, 1, 1, 1])
    masks = np.zeros((6, 32, 32), np.uint8)
    for i in (3, 4, 5):
        y, x = rng.integers(0, 24, 2)
        masks[i, y : y + 6, x : x + 5] = 1
    maps = rng.random((6, 32, 32)).astype(np.float32) + 0.8 * masks
    scores = maps.reshape(6, -1).max(axis=1)
    frames = FrameSet(np.zeros((6, 32, 32, 3), np.uint8), labels, masks, "test frames")
    return FramePredictions(maps=maps, scores=scores), frames


@pytest.mark.parametrize("key", ["pixel_aupro", "image_auroc"])
@pytest.mark.parametrize("seed", [0, 1])
def test_one_metric_equals_the_full_report(key: str, seed: int) -> None:
    preds, frames = _case(seed)
    assert one_metric(key, preds, frames) == metrics(preds, frames, fit_thresholds(preds, frames))[key]


def test_an_unknown_metric_is_refused_in_one_line() -> None:
    preds, frames = _case(0)
    with pytest.raises(ValueError, match="accepted: pixel_aupro, image_auroc"):
        one_metric("pixel_f1", preds, frames)
