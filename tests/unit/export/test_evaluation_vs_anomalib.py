"""edgekit.evaluation (numpy, used by export and runtime) against anomalib's own metrics on the same arrays.

Scores are drawn in [0, 1] because torchmetrics' curves apply a sigmoid to scores outside it (see
tests/unit/train/test_metrics.py); rounding them makes many ties, the case where ROC and PRO curves
are easiest to get subtly wrong. Agreement is required to 1e-6.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("anomalib")

from anomalib.metrics.aupro import _AUPRO  # noqa: E402
from anomalib.metrics.auroc import _AUROC  # noqa: E402
from anomalib.metrics.f1_score import _F1Max  # noqa: E402
from anomalib.metrics.threshold.f1_adaptive_threshold import _F1AdaptiveThreshold  # noqa: E402

from edgekit.errors import ArtifactError  # noqa: E402
from edgekit.evaluation import aupro, auroc, f1_adaptive_threshold, f1_max  # noqa: E402

TOL = 1e-6
SEEDS = range(4)


def _scores(rng: np.random.Generator, shape: tuple[int, ...], decimals: int | None) -> np.ndarray:
    scores = rng.random(shape).astype(np.float32)
    return np.round(scores, decimals).astype(np.float32) if decimals is not None else scores


def _masks(rng: np.random.Generator, m: int, hw: tuple[int, int]) -> np.ndarray:
    """Random rectangles (some touching, some frames empty) plus a few single-pixel regions."""
    masks = np.zeros((m, *hw), dtype=np.uint8)
    for i in range(m):
        for _ in range(int(rng.integers(0, 4))):
            y, x = rng.integers(0, hw[0] - 4), rng.integers(0, hw[1] - 4)
            h, w = rng.integers(2, hw[0] // 3), rng.integers(2, hw[1] // 3)
            masks[i, y : y + h, x : x + w] = 1
        masks[i][rng.random(hw) < 0.002] = 1
    masks[0, :4, :4] = 1  # at least one region in the set
    return masks


def _anomalib(metric: object, preds: np.ndarray, target: np.ndarray) -> float:
    metric.update(torch.from_numpy(preds), torch.from_numpy(target.astype(np.int64)))
    return float(metric.compute())


@pytest.mark.parametrize("decimals", [None, 2, 1])
@pytest.mark.parametrize("seed", SEEDS)
def test_auroc_matches_anomalib(seed: int, decimals: int | None) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 500)
    scores = np.clip(_scores(rng, (500,), decimals) + 0.2 * labels, 0, 1).astype(np.float32)
    assert auroc(scores, labels) == pytest.approx(_anomalib(_AUROC(), scores, labels), abs=TOL)


@pytest.mark.parametrize("decimals", [None, 2, 1])
@pytest.mark.parametrize("seed", SEEDS)
def test_f1_adaptive_threshold_matches_anomalib(seed: int, decimals: int | None) -> None:
    rng = np.random.default_rng(100 + seed)
    labels = rng.integers(0, 2, 300)
    scores = np.clip(_scores(rng, (300,), decimals) + 0.3 * labels, 0, 1).astype(np.float32)
    want = _anomalib(_F1AdaptiveThreshold(), scores, labels)
    assert f1_adaptive_threshold(scores, labels) == pytest.approx(want, abs=TOL)
    assert f1_max(scores, labels) == pytest.approx(_anomalib(_F1Max(), scores, labels), abs=TOL)


@pytest.mark.parametrize("decimals", [None, 2])
@pytest.mark.parametrize("seed", SEEDS)
def test_pixel_metrics_match_anomalib(seed: int, decimals: int | None) -> None:
    rng = np.random.default_rng(200 + seed)
    masks = _masks(rng, 5, (48, 40))
    maps = np.clip(_scores(rng, masks.shape, decimals) + 0.25 * masks, 0, 1).astype(np.float32)
    assert aupro(maps, masks) == pytest.approx(_anomalib(_AUPRO(), maps, masks), abs=TOL)
    assert auroc(maps, masks) == pytest.approx(_anomalib(_AUROC(), maps, masks), abs=TOL)


def test_aupro_with_fpr_limit_hit_exactly_and_other_limits() -> None:
    rng = np.random.default_rng(7)
    masks = _masks(rng, 3, (32, 32))
    maps = np.round(rng.random(masks.shape), 1).astype(np.float32)  # 11 levels: the limit falls on a step
    for limit in (0.05, 0.3, 1.0):
        assert aupro(maps, masks, fpr_limit=limit) == pytest.approx(
            _anomalib(_AUPRO(fpr_limit=limit), maps, masks), abs=TOL
        )


@pytest.mark.parametrize("decimals", [None, 1])
@pytest.mark.parametrize("share", [0.05, 0.5, 0.95])
def test_auroc_and_f1_threshold_with_either_class_the_smaller(share: float, decimals: int | None) -> None:
    """The binary search runs the smaller class through the larger: both directions, with ties."""
    rng = np.random.default_rng(int(share * 100))
    labels = (rng.random(400) < share).astype(np.int64)
    scores = np.clip(_scores(rng, (400,), decimals) + 0.2 * labels, 0, 1).astype(np.float32)
    assert auroc(scores, labels) == pytest.approx(_anomalib(_AUROC(), scores, labels), abs=TOL)
    want = _anomalib(_F1AdaptiveThreshold(), scores, labels)
    assert f1_adaptive_threshold(scores, labels) == pytest.approx(want, abs=TOL)
    assert f1_max(scores, labels) == pytest.approx(_anomalib(_F1Max(), scores, labels), abs=TOL)


@pytest.mark.parametrize("decimals", [None, 2])
def test_pixel_threshold_and_metrics_take_float64_maps_and_255_masks(decimals: int | None) -> None:
    rng = np.random.default_rng(300)
    masks = _masks(rng, 4, (40, 36))
    maps = np.clip(_scores(rng, masks.shape, decimals) + 0.3 * masks, 0, 1).astype(np.float32)
    want_pro = _anomalib(_AUPRO(), maps, masks)
    want_thr = _anomalib(_F1AdaptiveThreshold(), maps, masks)
    assert aupro(maps.astype(np.float64), masks * 255) == pytest.approx(want_pro, abs=TOL)
    assert auroc(maps.astype(np.float64), masks.astype(bool)) == pytest.approx(
        _anomalib(_AUROC(), maps, masks), abs=TOL
    )
    assert f1_adaptive_threshold(maps, masks) == pytest.approx(want_thr, abs=TOL)


def test_one_class_gives_nan_and_the_extreme_threshold() -> None:
    scores = np.array([0.2, 0.7, 0.4], np.float32)
    assert np.isnan(auroc(scores, np.zeros(3)))
    assert np.isnan(auroc(scores, np.ones(3)))
    assert np.isnan(f1_max(scores, np.zeros(3)))
    assert f1_adaptive_threshold(scores, np.zeros(3)) == pytest.approx(0.7)
    assert f1_adaptive_threshold(scores, np.ones(3)) == pytest.approx(0.2)
    assert np.isnan(aupro(np.zeros((2, 8, 8), np.float32), np.zeros((2, 8, 8), np.uint8)))
    assert np.isnan(aupro(np.zeros((1, 8, 8), np.float32), np.ones((1, 8, 8), np.uint8)))


def test_exact_f1_ties_go_to_the_lowest_threshold_as_in_anomalib() -> None:
    scores = np.array([0.9, 0.5, 0.4, 0.3], np.float32)
    labels = np.array([1, 0, 0, 1])  # F1(>= 0.9) = F1(>= 0.3) = 2/3
    assert _anomalib(_F1AdaptiveThreshold(), scores, labels) == pytest.approx(0.3)
    assert f1_adaptive_threshold(scores, labels) == pytest.approx(0.3)


def test_f1_threshold_on_quantized_scores_with_an_exact_tie() -> None:
    """Integer scores, 30 samples (seed 455): two thresholds share the best F1 exactly."""
    rng = np.random.default_rng(455)
    labels = (rng.random(30) < 0.3).astype(np.int64)
    scores = (rng.integers(0, 6, 30) + labels).astype(np.float32)
    levels = np.unique(scores[labels == 1])
    f1 = [2 * (scores[labels == 1] >= v).sum() / ((scores >= v).sum() + labels.sum()) for v in levels]
    assert sum(f == max(f1) for f in f1) == 2  # the case this test is for
    want = _anomalib(_F1AdaptiveThreshold(), scores / 10, labels) * 10
    assert f1_adaptive_threshold(scores, labels) == pytest.approx(want, abs=1e-5)


def test_nan_scores_are_refused_in_one_line() -> None:
    scores = np.array([0.1, np.nan, 0.3], np.float32)
    labels = np.array([0, 1, 1])
    for fn in (auroc, f1_adaptive_threshold, f1_max):
        with pytest.raises(ArtifactError, match="scores hold 1 NaN value"):
            fn(scores, labels)
    maps = np.zeros((1, 4, 4), np.float32)
    maps[0, 1, 1] = np.nan
    with pytest.raises(ArtifactError, match="maps hold 1 NaN value"):
        aupro(maps, np.eye(4, dtype=np.uint8)[None])


def test_aupro_counts_every_nonzero_mask_value_as_defect() -> None:
    rng = np.random.default_rng(9)
    maps = rng.random((2, 6, 6)).astype(np.float32)
    masks = np.zeros((2, 6, 6))
    masks[0, :2, :2], masks[1, 3:, 3:] = 0.5, 256.0
    want = aupro(maps, (masks != 0).astype(np.uint8))
    assert aupro(maps, masks) == pytest.approx(want)
