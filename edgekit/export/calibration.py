"""Calibration and validation frames for quantization and the accuracy check: whole uint8 BGR frames."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.artifacts.record import TrainingRecord
from edgekit.data import Sample, load_split, scan_dataset
from edgekit.data.mvtec import scan_validation
from edgekit.errors import ConfigError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameSet:
    """Frames of a split at the grid's image size.

    Attributes:
        frames: ``uint8 [M, H, W, 3]`` BGR frames.
        labels: ``[M]`` 0/1.
        masks: ``[M, H, W]`` 0/1.
        source: What the frames are, for reports.
    """

    frames: np.ndarray
    labels: np.ndarray
    masks: np.ndarray
    source: str


def _frames(samples: list[Sample] | tuple[Sample, ...], record: TrainingRecord, what: str) -> FrameSet:
    grid = record.grid
    split = load_split(samples, grid.image_hw, min_hw=grid.tile_hw, what=what)
    return FrameSet(frames=split.images, labels=split.labels, masks=split.masks, source=what)


def calibration_frames(record: TrainingRecord, data: Path, size: int) -> FrameSet:
    """Up to ``size`` training frames, evenly spread.

    Args:
        record: The training record.
        data: The dataset folder.
        size: Frames wanted.

    Returns:
        The frames; fewer than asked when the training split is smaller (logged with both numbers).
    """
    if size < 1:
        msg = f"calibration size {size} is out of range; accepted: >= 1 frames"
        raise ConfigError(msg)
    train = scan_dataset(data).train
    if len(train) < size:
        logger.warning(
            "calibration set smaller than asked: %d training frames available, %d asked; using %d",
            len(train),
            size,
            len(train),
        )
    picks = np.linspace(0, len(train) - 1, num=min(size, len(train))).round().astype(int)
    return _frames([train[i] for i in sorted(set(picks.tolist()))], record, "calibration (train/good)")


def validation_frames(record: TrainingRecord, data: Path) -> FrameSet:
    """The frames thresholds were fitted on: the validation folder, held-out good images or the test split."""
    if record.data.get("val_split") == "validation":
        folder = Path(record.data["val_folder"])
        samples = scan_validation(folder)
        return _frames(samples, record, f"validation ({len(samples)} held-out images in {folder})")
    dataset = scan_dataset(data)
    if record.data.get("val_split") == "from_train":
        wanted = {Path(p).name for p in record.data.get("val_files", [])}
        samples = [s for s in dataset.train if s.path.name in wanted]
        return _frames(samples, record, f"validation ({len(samples)} held-out train/good)")
    return _frames(dataset.test, record, f"validation (test split, {len(dataset.test)} images)")


def check_frames(record: TrainingRecord, data: Path) -> FrameSet:
    """Frames for the FP32-vs-deployed accuracy check: they must hold anomalies for AUROC and AUPRO.

    The validation frames where they do; else (validation held out from good training images) the
    test split, which is used here to judge quantization only, never to fit a threshold.
    """
    val = validation_frames(record, data)
    if val.labels.any():
        return val
    dataset = scan_dataset(data)
    if dataset.test:
        what = f"the test split ({len(dataset.test)} images; the validation images hold no anomalies)"
        return _frames(dataset.test, record, what)
    return val
