"""Metrics checked against known answers: PaDiM must find big black squares on a flat gray texture.

The same asserts are then run on predictions that see nothing (constant, reversed, maps given to
the wrong images) to show that they would fail: the thresholds below test the model, not luck.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgekit.data import load_split, scan_dataset

pytest.importorskip("anomalib")

from edgekit.evaluation import aupro, auroc
from edgekit.train.evaluate import evaluate_ensemble, evaluate_run
from edgekit.train.run_io import load_run


@pytest.fixture(scope="module")
def padim_predictions(padim_run: Path, known_data: Path) -> tuple[dict[str, float], object, object]:
    record, ensemble = load_run(padim_run)
    test = load_split(scan_dataset(known_data).test, record.grid.image_hw, min_hw=record.grid.tile_hw)
    metrics, preds = evaluate_ensemble(ensemble, record.thresholds, test, False, "ensemble")
    return metrics, preds, test


def test_padim_finds_every_black_square(padim_predictions: tuple) -> None:
    metrics, preds, test = padim_predictions
    assert test.labels.tolist() == [0] * 4 + [1] * 6
    assert metrics["image_auroc"] == 1.0
    assert metrics["image_f1_max"] == 1.0
    assert metrics["pixel_auroc"] > 0.9
    assert metrics["pixel_aupro"] > 0.8
    # every defective frame scores above every good one, and its map peaks inside the square
    assert preds.scores[test.labels == 1].min() > preds.scores[test.labels == 0].max()
    for amap, mask in zip(preds.maps[test.labels == 1], test.masks[test.labels == 1], strict=True):
        peak = np.unravel_index(np.argmax(amap), amap.shape)
        ys, xs = np.nonzero(mask)
        assert ys.min() - 8 <= peak[0] <= ys.max() + 8 and xs.min() - 8 <= peak[1] <= xs.max() + 8


def test_the_same_asserts_fail_for_a_model_that_sees_nothing(padim_predictions: tuple) -> None:
    _, preds, test = padim_predictions
    flat = np.full_like(preds.scores, 7.0)
    assert auroc(flat, test.labels) == 0.5
    assert auroc(-preds.scores, test.labels) == 0.0
    shuffled = preds.scores[np.random.default_rng(3).permutation(len(preds.scores))]
    assert auroc(shuffled, test.labels) < 1.0
    bad = test.labels == 1
    wrong_maps = np.roll(preds.maps[bad], 1, axis=0)  # each defective image gets another one's map
    assert aupro(wrong_maps, test.masks[bad]) < 0.5
    assert aupro(np.zeros_like(preds.maps), test.masks) < 0.8
    assert auroc(wrong_maps, test.masks[bad]) < 0.9


def test_evaluate_run_reports_the_same_metrics(padim_predictions: tuple, padim_run: Path, known_data: Path) -> None:
    metrics, _, _ = padim_predictions
    report = evaluate_run(padim_run, known_data, progress=False)
    assert report.n_test == 10 and report.n_anomalous == 6
    assert report.systems["ensemble"] == pytest.approx(metrics, nan_ok=True)
    # the default (auto) never fits thresholds on the test images: this data set has no validation
    # folder, so they come from held-out good training images (a normal-score quantile)
    assert report.details["ensemble"]["thresholds"] == "normal_quantile"
    assert "good training images held out (from_train)" in report.details["ensemble"]["thresholds_from"]
