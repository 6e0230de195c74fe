"""Anomaly-detection metrics and thresholds in numpy: the one definition train, export and bench use.

Ports of anomalib 2.7's ``_AUROC``, ``_AUPRO`` (MVTec's per-region overlap, 8-connected regions
from OpenCV, curve cut at ``fpr_limit`` with linear interpolation, area normalized by the limit),
``_F1AdaptiveThreshold`` and ``_F1Max``. Tests check them against anomalib's classes on the same
arrays to 1e-6 (tests/unit/export/test_evaluation_vs_anomalib.py). Unlike torchmetrics' curves
these never apply a sigmoid, so raw scores are fine.

They are written for whole test splits at 5 MP (60 frames are 300 M pixels): each curve needs
only how many scores of each class lie at or above a threshold, so they sort the two classes'
scores apart and count by binary search. On 40 M pixels (8 frames) a metric takes 0.6-0.8 s and
243 MiB beyond the inputs, against 17-27 s and 3.2 GB for anomalib's classes; 300 M pixels take
5-7 s and 1.4 GB, a float32 copy of the negatives (benchmarks/pixel_metrics.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from edgekit.artifacts.record import ThresholdMethod, Thresholds
from edgekit.errors import ArtifactError


def _no_nan(values: np.ndarray, what: str = "scores") -> None:
    """Refuse NaN scores in one line: a broken model must not become a metric or a threshold."""
    n = int(np.count_nonzero(np.isnan(values)))
    if n:
        msg = f"{what} hold {n} NaN value(s) of {values.size}; metrics and thresholds need numbers (a broken model?)"
        raise ArtifactError(msg)


def _float_scores(values: np.ndarray) -> np.ndarray:
    """``values`` flattened, as float32 or float64 (kept when already one; others become float64), NaN refused."""
    flat = np.asarray(values).ravel()
    flat = flat if flat.dtype in (np.float32, np.float64) else flat.astype(np.float64)
    _no_nan(flat)
    return flat


def _sorted_classes(preds: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The scores of the negatives and of the positives, each sorted ascending.

    Every curve here depends only on how many scores of each class lie at or above a threshold,
    so two sorted value arrays replace a sorted (score, label) pair of arrays: no index array, no
    float64 copy of float32 maps, no cumulative sums over every pixel. At 5 MP, 60 frames are 300 M
    pixels; the extra memory is one float32 copy of the negatives' scores.
    """
    p = _float_scores(preds)
    t = np.asarray(target).ravel().astype(bool, copy=False)
    neg = p[~t]
    pos = p[t]
    neg.sort()
    pos.sort()
    return neg, pos


def _at_least(sorted_values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """How many of ``sorted_values`` (ascending) are >= each threshold."""
    return sorted_values.size - np.searchsorted(sorted_values, thresholds, side="left")


def auroc(preds: np.ndarray, target: np.ndarray) -> float:
    """Area under the ROC curve of scores against binary labels (NaN with one class only).

    The trapezoidal area under the ROC curve with tied scores grouped (anomalib's) is the
    Mann-Whitney statistic: the share of (positive, negative) pairs ranked right, ties counting
    half. Counted with integers by binary search of the smaller class in the larger one.

    Args:
        preds: Scores, any shape (higher is more anomalous).
        target: 0/1 labels of the same shape.

    Returns:
        The AUROC.
    """
    neg, pos = _sorted_classes(preds, target)
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    few, many = (pos, neg) if pos.size <= neg.size else (neg, pos)
    below = np.searchsorted(many, few, side="left")
    ties = np.searchsorted(many, few, side="right") - below
    # pairs ranked right: negatives below each positive, or positives above each negative
    right = below if few is pos else many.size - below - ties
    return (2 * int(right.sum(dtype=np.int64)) + int(ties.sum(dtype=np.int64))) / (2 * pos.size * neg.size)


def aupro(maps: np.ndarray, masks: np.ndarray, fpr_limit: float = 0.3) -> float:
    """Area under the per-region-overlap curve up to ``fpr_limit``, normalized (anomalib's AUPRO).

    The curve has a point at every distinct score. Between two scores that some defect pixel has,
    only the false-positive rate moves and the overlap stays flat, so the area needs the curve only
    at the defect pixels' distinct scores: the background count above each (one binary search in
    the sorted background scores) and the overlap gained there. Frames are labelled one at a time;
    memory beyond the inputs is one float32 copy of the background scores.

    Args:
        maps: ``[M, H, W]`` anomaly maps.
        masks: ``[M, H, W]`` 0/1 ground truth.
        fpr_limit: False-positive-rate limit of the integration.

    Returns:
        The AUPRO (NaN where no mask has a defect region).
    """
    masks = np.asarray(masks)
    n_bg = masks.size - int(np.count_nonzero(masks))
    background = np.empty(n_bg, dtype=np.float32)
    values, weights = [], []
    n_regions = filled = 0
    for frame, mask in zip(maps, masks, strict=True):
        frame = np.asarray(frame, dtype=np.float32)
        _no_nan(frame, "maps")
        n, comps = cv2.connectedComponents((mask != 0).astype(np.uint8))  # nonzero is defect, as counted above
        inside = comps > 0
        outside = frame[~inside]
        background[filled : filled + outside.size] = outside
        filled += outside.size
        if n > 1:
            region = comps[inside]
            sizes = np.bincount(region, minlength=n).astype(np.float64)
            values.append(frame[inside])
            weights.append(1.0 / sizes[region])
            n_regions += n - 1
    if n_regions == 0 or n_bg == 0:
        return float("nan")
    background.sort()
    value = np.concatenate(values)
    order = np.argsort(-value)
    value = value[order]
    last = np.ones(value.shape, dtype=bool)  # the last pixel of each run of equal scores
    last[:-1] = value[:-1] != value[1:]
    levels = value[last]  # the defect pixels' distinct scores, descending
    pro_after = np.minimum(np.cumsum(np.concatenate(weights)[order])[last] / n_regions, 1.0)
    pro_before = np.concatenate([[0.0], pro_after[:-1]])
    fpr_after = _at_least(background, levels) / n_bg
    fpr_before = (n_bg - np.searchsorted(background, levels, side="right")) / n_bg
    # the curve: (0, 0), then per level its flat approach and its step, then flat to fpr 1
    fpr = np.concatenate([[0.0], np.column_stack([fpr_before, fpr_after]).ravel(), [1.0]])
    pro = np.concatenate([[0.0], np.column_stack([pro_before, pro_after]).ravel(), pro_after[-1:]])
    inside = np.nonzero(fpr <= fpr_limit)[0]
    i = int(inside[-1])
    if fpr[i] < fpr_limit and i + 1 < fpr.size:
        f1, f2, p1, p2 = fpr[i], fpr[i + 1], pro[i], pro[i + 1]
        p_lim = p1 + (p2 - p1) * (fpr_limit - f1) / (f2 - f1)
        fpr = np.concatenate([fpr[: i + 1], [fpr_limit]])
        pro = np.concatenate([pro[: i + 1], [p_lim]])
    else:
        fpr, pro = fpr[: i + 1], pro[: i + 1]
    return float(np.trapezoid(pro, fpr) / fpr[-1])


def f1_at(preds: np.ndarray, target: np.ndarray, threshold: float) -> float:
    """F1 of ``preds > threshold`` against binary ``target`` (anomalib's Engine labelling).

    Args:
        preds: Scores.
        target: 0/1 labels.
        threshold: Decision threshold on the scores.

    Returns:
        The F1 score (1.0 when there are neither positives nor predictions).
    """
    pred = np.asarray(preds) > threshold
    truth = np.asarray(target).astype(bool)
    tp = float(np.sum(pred & truth))
    denom = float(pred.sum() + truth.sum())
    return 2.0 * tp / denom if denom else 1.0


def _f1_levels(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """F1 of ``score >= level`` at each distinct positive score, levels descending.

    Only scores some positive has can hold the maximum: below one, down to the next, true positives
    stay and predictions grow, so F1 falls.
    """
    levels = np.unique(pos)[::-1]
    tp = _at_least(pos, levels)
    return levels, 2.0 * tp / (tp + _at_least(neg, levels) + pos.size)


def f1_adaptive_threshold(preds: np.ndarray, target: np.ndarray) -> float:
    """The score threshold that maximizes F1 (anomalib's ``F1AdaptiveThreshold``).

    Candidate thresholds are the distinct scores; a sample is positive when ``score >= threshold``.
    Without positives the maximum score is returned, without negatives the minimum (as anomalib).
    Of thresholds with exactly the same F1 the lowest wins, as in anomalib (the first maximum of
    its ascending thresholds).

    Args:
        preds: Scores, any shape.
        target: 0/1 labels of the same shape.

    Returns:
        The threshold.
    """
    neg, pos = _sorted_classes(preds, target)
    if pos.size == 0:
        return float(neg.max())
    if neg.size == 0:
        return float(pos.min())
    levels, f1 = _f1_levels(pos, neg)  # levels descending: the last maximum is the lowest threshold
    return float(levels[f1.size - 1 - int(np.argmax(f1[::-1]))])


def f1_max(preds: np.ndarray, target: np.ndarray) -> float:
    """The best F1 over all thresholds (anomalib's ``F1Max``); NaN with one class only.

    Args:
        preds: Scores, any shape.
        target: 0/1 labels of the same shape.

    Returns:
        The maximum F1.
    """
    neg, pos = _sorted_classes(preds, target)
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    return float(_f1_levels(pos, neg)[1].max())


#: The four metrics every report shows, in table order.
METRIC_KEYS = ("image_auroc", "image_f1", "pixel_auroc", "pixel_aupro")


def split_metrics(
    scores: np.ndarray, labels: np.ndarray, maps: np.ndarray, masks: np.ndarray, thresholds: Thresholds
) -> dict[str, float]:
    """The four reported metrics of a split plus image F1-max (a trained run and a bundle alike).

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


@dataclass(frozen=True)
class EvalReport:
    """Metrics of one or more systems on one test split.

    Attributes:
        data: The dataset folder.
        n_test: Test images evaluated.
        n_anomalous: Defective test images.
        systems: System name (``ensemble``, ``single@256``, ``bundle (int8)``...) -> metrics.
        details: System name -> grid description and threshold method.
        main: The system whose metrics the JSON also carries at top level.
    """

    data: str
    n_test: int
    n_anomalous: int
    systems: dict[str, dict[str, float]]
    details: dict[str, dict[str, str]] = field(default_factory=dict)
    main: str = "ensemble"

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (the main system's metrics also at top level)."""
        return {
            **self.systems.get(self.main, {}),
            "data": self.data,
            "n_test": self.n_test,
            "n_anomalous": self.n_anomalous,
            "systems": self.systems,
            "details": self.details,
        }


def fit_thresholds(
    scores: np.ndarray,
    labels: np.ndarray,
    maps: np.ndarray,
    masks: np.ndarray,
    normal_quantile: float,
    source: str,
) -> Thresholds:
    """Thresholds and min-max statistics from validation predictions (training and export alike).

    With anomalies in the validation set: F1-adaptive image and pixel thresholds (anomalib's
    default). Without: the image threshold is the ``normal_quantile`` of the normal scores and the
    pixel threshold equals it (anomalib's threshold matching when there are no masks).

    Args:
        scores: Raw frame scores ``[M]``.
        labels: ``[M]`` 0/1.
        maps: Raw joined maps ``[M, H, W]``.
        masks: ``[M, H, W]`` 0/1.
        normal_quantile: Quantile used without anomalies.
        source: Where the validation images came from, for the record.

    Returns:
        The thresholds, saying which method was used.
    """
    stats = {
        "image_min": float(scores.min()),
        "image_max": float(scores.max()),
        "pixel_min": float(maps.min()),
        "pixel_max": float(maps.max()),
    }
    n_anom = int(labels.sum())
    if 0 < n_anom < len(labels):
        image_thr = f1_adaptive_threshold(scores, labels)
        pixel_thr = f1_adaptive_threshold(maps, masks) if masks.any() else image_thr
        return Thresholds(
            image_threshold=image_thr,
            pixel_threshold=pixel_thr,
            method=ThresholdMethod.F1_ADAPTIVE.value,
            detail=f"F1-adaptive on {len(labels)} validation images ({n_anom} anomalous) from {source}",
            **stats,
        )
    normal = scores[labels == 0] if n_anom < len(labels) else scores
    thr = float(np.quantile(normal, normal_quantile))
    return Thresholds(
        image_threshold=thr,
        pixel_threshold=thr,
        method=ThresholdMethod.NORMAL_QUANTILE.value,
        detail=(
            f"validation ({len(labels)} images from {source}) has no anomalies: image threshold is the "
            f"{normal_quantile:g} quantile of normal frame scores; pixel threshold matches it"
        ),
        **stats,
    )


def seam_ratio(
    maps: np.ndarray, labels: np.ndarray, lines: tuple[int, ...], control: tuple[int, ...] = ()
) -> dict[str, float]:
    """How visible tile seams are: the mean |step| of the maps across ``lines`` over a reference step.

    Measured on the good images only (``labels == 0``), along both axes. The reference is the mean
    |step| across ``control`` lines where given, else across every pixel. Control lines should sit
    where no tile edge is but in the same phase of the feature grid (e.g. the midlines between
    edges, 64, 192, 320, 448 for edges at 128, 256, 384): an upsampled stride-8 or -16 feature map
    has steps of its own that are larger on some lines than on average (on the wide set's aligned
    scenes the all-pixel ratio is 1.2-1.3 on lines where no tile has an edge). With controls, about
    1 means no seam; the zero padding every tile's border features see under image tiling shows as
    a ratio above 1.

    Args:
        maps: ``[M, H, W]`` anomaly maps.
        labels: ``[M]`` 0 good / 1 defective.
        lines: Pixel offsets of the grid's interior tile edges (e.g. 128, 256, 384 for 512/256/128).
        control: Pixel offsets of lines without tile edges; empty: compare with every pixel's step.

    Returns:
        ``seam_ratio_x`` and ``seam_ratio_y`` (NaN without good images or lines).
    """
    good = maps[labels == 0].astype(np.float64)
    out = {}
    for name, axis in (("seam_ratio_x", 2), ("seam_ratio_y", 1)):
        inside = [b for b in lines if 0 < b < good.shape[axis]] if len(good) else []
        reference = [b for b in control if 0 < b < good.shape[axis]] if len(good) else []
        if not inside or (control and not reference):
            out[name] = float("nan")
            continue
        step = np.abs(np.diff(good, axis=axis)).mean(axis=(0, 3 - axis))  # step from pixel c-1 to c
        base = step[[b - 1 for b in reference]].mean() if reference else step.mean()
        out[name] = round(float(step[[b - 1 for b in inside]].mean() / max(base, 1e-12)), 3)
    return out
