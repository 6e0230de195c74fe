"""Metric functions on hand-made arrays with known answers, and the thresholds fitted from validation."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("anomalib")

from edgekit.evaluation import (
    aupro,
    auroc,
    f1_adaptive_threshold,
    f1_at,
    fit_thresholds,
    split_metrics,
)
from edgekit.train.config import ThresholdMethod

LABELS = np.array([0, 0, 0, 0, 1, 1, 1, 1])


def _rank_auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mann-Whitney AUROC, ties counted half: the definition, independent of any library."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def test_auroc_perfect_reversed_and_blind() -> None:
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9])
    assert auroc(scores, LABELS) == 1.0
    assert auroc(-scores, LABELS) == 0.0
    assert auroc(np.full(8, 3.0), LABELS) == 0.5
    assert auroc(np.array([0.1, 0.7, 0.3, 0.4, 0.6, 0.2, 0.8, 0.9]), LABELS) == 0.75


def test_auroc_of_raw_scores_in_the_hundreds_is_right() -> None:
    """The sigmoid pitfall: torchmetrics squashes scores outside [0, 1] and AUROC falls to 0.5."""
    from anomalib.metrics.auroc import _AUROC
    from torch import tensor

    scores = np.array([310.0, 290.5, 305.2, 330.1, 301.0, 345.8, 360.2, 333.3])  # raw PaDiM-like
    want = _rank_auroc(scores, LABELS)
    assert want == 0.8125
    assert auroc(scores, LABELS) == pytest.approx(want)
    naive = _AUROC()  # what calling anomalib's metric on raw scores gives
    naive.update(tensor(scores, dtype=float).float(), tensor(LABELS))
    assert float(naive.compute()) == 0.5
    assert auroc(scores * 1000 + 5e4, LABELS) == pytest.approx(want)  # any monotone rescaling


def test_auroc_matches_the_rank_definition_on_random_data(rng: np.random.Generator) -> None:
    labels = rng.integers(0, 2, 300)
    scores = rng.normal(size=300) + labels * 0.8 + 200.0
    assert auroc(scores, labels) == pytest.approx(_rank_auroc(scores, labels), abs=1e-6)


def test_auroc_is_nan_with_one_class() -> None:
    assert np.isnan(auroc(np.array([0.1, 0.5]), np.array([0, 0])))


def test_pixel_auroc_and_aupro_on_maps() -> None:
    masks = np.zeros((3, 32, 32), np.uint8)
    masks[0, 4:12, 4:12] = 1
    masks[2, 20:30, 10:20] = 1
    perfect = masks.astype(np.float32) * 50.0 + 100.0  # raw values, far outside [0, 1]
    assert auroc(perfect, masks) == 1.0
    assert aupro(perfect, masks) == pytest.approx(1.0, abs=1e-4)
    assert auroc(-perfect, masks) == 0.0
    assert aupro(-perfect, masks) < 0.05
    blind = np.full_like(perfect, 3.0)
    assert auroc(blind, masks) == 0.5
    assert aupro(blind, masks) < 0.2
    # only the first region found: AUPRO is the mean over regions, so about one half
    half = perfect.copy()
    half[2] = 100.0
    assert aupro(half, masks) == pytest.approx(0.5, abs=0.1)
    assert np.isnan(aupro(perfect, np.zeros_like(masks)))


def test_f1_at_counts_strictly_greater_as_positive() -> None:
    scores = np.array([1.0, 2.0, 3.0, 4.0])
    truth = np.array([0, 0, 1, 1])
    assert f1_at(scores, truth, 2.5) == 1.0
    assert f1_at(scores, truth, 3.0) == pytest.approx(2 / 3)  # 3.0 is not > 3.0
    assert f1_at(scores, truth, 0.0) == pytest.approx(2 * 2 / (4 + 2))
    assert f1_at(scores, np.zeros(4), 10.0) == 1.0  # nothing to find, nothing flagged


def test_f1_adaptive_threshold_separates_the_classes() -> None:
    scores = np.array([10.0, 20.0, 30.0, 40.0, 60.0, 70.0, 80.0, 90.0])
    thr = f1_adaptive_threshold(scores, LABELS)
    assert thr == 60.0  # the lowest anomalous score: the PR curve counts ">=" as positive
    # anomalib's Engine (and edgekit) then label with ">": the frame sitting exactly on the
    # threshold is called normal, so F1 at the adaptive threshold is below F1-max even here
    assert f1_at(scores, LABELS, thr) == pytest.approx(6 / 7)


def test_fit_thresholds_with_anomalies_is_f1_adaptive() -> None:
    scores = np.array([1.0, 2.0, 3.0, 7.0, 8.0, 9.0])
    labels = np.array([0, 0, 0, 1, 1, 1])
    maps = np.zeros((6, 8, 8), np.float32)
    masks = np.zeros((6, 8, 8), np.uint8)
    maps[3:, 2:4, 2:4], masks[3:, 2:4, 2:4] = 5.0, 1
    thr = fit_thresholds(scores, labels, maps, masks, 0.99, "a test")
    assert thr.method == ThresholdMethod.F1_ADAPTIVE.value
    assert 3.0 < thr.image_threshold <= 7.0
    assert 0.0 < thr.pixel_threshold <= 5.0
    assert (thr.image_min, thr.image_max, thr.pixel_min, thr.pixel_max) == (1.0, 9.0, 0.0, 5.0)
    assert "3 anomalous" in thr.detail and "a test" in thr.detail


def test_fit_thresholds_without_anomalies_falls_back_to_the_normal_quantile() -> None:
    scores = np.arange(1.0, 101.0)
    labels = np.zeros(100, np.int64)
    maps = np.zeros((100, 4, 4), np.float32)
    thr = fit_thresholds(scores, labels, maps, np.zeros((100, 4, 4), np.uint8), 0.95, "held-out images")
    assert thr.method == ThresholdMethod.NORMAL_QUANTILE.value == "normal_quantile"
    assert thr.image_threshold == pytest.approx(np.quantile(scores, 0.95))
    assert thr.pixel_threshold == thr.image_threshold
    assert "no anomalies" in thr.detail and "0.95" in thr.detail


def test_evaluate_reports_the_four_metrics_and_f1_max() -> None:
    scores = np.array([1.0, 2.0, 3.0, 7.0, 8.0, 9.0])
    labels = np.array([0, 0, 0, 1, 1, 1])
    masks = np.zeros((6, 8, 8), np.uint8)
    masks[3:, 2:5, 2:5] = 1
    maps = masks * 10.0 + 200.0
    thr = fit_thresholds(scores, labels, maps, masks, 0.99, "x")
    out = split_metrics(scores, labels, maps, masks, thr)
    assert set(out) == {"image_auroc", "image_f1", "pixel_auroc", "pixel_aupro", "image_f1_max"}
    assert out["image_auroc"] == 1.0 and out["image_f1_max"] == 1.0
    assert out["pixel_auroc"] == 1.0 and out["pixel_aupro"] == pytest.approx(1.0, abs=1e-4)
    out = split_metrics(scores[::-1].copy(), labels, maps, masks, thr)  # a detector that is always wrong
    assert out["image_auroc"] == 0.0 and out["image_f1"] < 0.5


def test_validation_auroc_is_recorded_and_warns_when_the_model_barely_separates(caplog) -> None:
    from edgekit.train.fit import WEAK_SEPARATION_AUROC, validation_auroc

    rng = np.random.default_rng(0)
    with caplog.at_level("WARNING", logger="edgekit.train.fit"):
        assert validation_auroc(np.arange(8.0), LABELS) == 1.0
        assert not caplog.records  # separated: no warning
        assert validation_auroc(rng.random(8), np.zeros(8, int)) is None  # one class: no figure, no warning
        assert validation_auroc(rng.random(8), np.ones(8, int)) is None
        assert not caplog.records
        # 13 of 16 pairs ranked right: 0.8125, just over the line, and no warning
        assert validation_auroc(np.array([0, 1, 2, 6, 3, 4, 5, 7.0]), LABELS) == 0.8125 >= WEAK_SEPARATION_AUROC
        assert not caplog.records
        value = validation_auroc(np.array([4, 5, 6, 7, 0, 1, 2, 3.0]), LABELS)  # defective frames score lowest
    assert value == 0.0 < WEAK_SEPARATION_AUROC
    (warning,) = caplog.records
    message = warning.getMessage()
    assert "validation image AUROC is 0.000 on 8 frames (4 defective)" in message and "--model" in message
