"""``edgekit evaluate``: metrics of a trained ensemble, optional single-model baselines and figures."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import cv2
import numpy as np

from edgekit.artifacts.record import Thresholds, TrainingRecord
from edgekit.data import load_split, scan_dataset
from edgekit.data.mvtec import LoadedSplit
from edgekit.evaluation import EvalReport, split_metrics
from edgekit.tiling import size_text
from edgekit.train import ov_trunk
from edgekit.train.config import TrainConfig
from edgekit.train.ensemble import TiledEnsemble
from edgekit.train.fit import train
from edgekit.train.infer import Predictions, predict_frames
from edgekit.train.run_io import config_from_record, load_run

logger = logging.getLogger(__name__)

def _predict_at(ensemble: TiledEnsemble, test: LoadedSplit, progress: bool, desc: str) -> Predictions:
    """Predict, resizing frames to the model's image size and maps back to the evaluation size."""
    eval_hw = test.images.shape[1:3]
    model_hw = ensemble.grid.image_hw
    if tuple(eval_hw) == tuple(model_hw):
        return predict_frames(ensemble, test.images, progress=progress, desc=desc)
    interp = cv2.INTER_AREA if model_hw[0] < eval_hw[0] else cv2.INTER_LINEAR
    images = np.stack([cv2.resize(im, model_hw[::-1], interpolation=interp) for im in test.images])
    preds = predict_frames(ensemble, images, progress=progress, desc=desc)
    maps = np.stack([cv2.resize(m, eval_hw[::-1], interpolation=cv2.INTER_LINEAR) for m in preds.maps])
    return Predictions(maps=maps, scores=preds.scores)


def evaluate_ensemble(
    ensemble: TiledEnsemble, thresholds: Thresholds, test: LoadedSplit, progress: bool, desc: str
) -> tuple[dict[str, float], Predictions]:
    """Metrics of one system on a loaded test split."""
    preds = _predict_at(ensemble, test, progress, desc)
    return split_metrics(preds.scores, test.labels, preds.maps, test.masks, thresholds), preds


def baseline_configs(config: TrainConfig, scratch: Path) -> dict[str, TrainConfig]:
    """Single-model baselines of the same model and backbone: at tile size and at full size."""
    tile, full = config.grid.tile_hw, config.grid.image_hw
    return {
        f"single@{size_text(tile)}": config.with_changes(
            image_size=tile, tile_size=tile, stride=tile, out=scratch / "tile"
        ),
        f"single@{size_text(full)}": config.with_changes(
            image_size=full, tile_size=full, stride=full, out=scratch / "full"
        ),
    }


def _detail(grid: str, record: TrainingRecord) -> dict[str, str]:
    """A system's grid, threshold method and the images its thresholds were fitted on."""
    source = (record.data or {}).get("val_source", "not recorded")
    return {"grid": grid, "thresholds": record.thresholds.method, "thresholds_from": source}


def evaluate_run(
    run: Path,
    data: Path,
    *,
    baselines: bool = False,
    figures: Path | None = None,
    progress: bool = True,
) -> EvalReport:
    """Evaluate a run folder on a dataset's test split.

    Args:
        run: The run folder written by ``edgekit train``.
        data: Dataset category folder (MVTec layout) with a test split.
        baselines: Also train and evaluate single models at tile size and at full size.
        figures: Folder for PNG panels of the best and worst cases.
        progress: Show progress bars.

    Returns:
        The report.
    """
    record, ensemble = load_run(run)
    grid = record.grid
    dataset = scan_dataset(data, need_test=True)
    test = load_split(dataset.test, grid.image_hw, min_hw=grid.tile_hw, what="test split")
    ov_trunk.attach(ensemble, "auto", len(test.images))  # OpenVINO where the test split is large (5 MP frames)
    metrics, preds = evaluate_ensemble(ensemble, record.thresholds, test, progress, "ensemble")
    systems = {"ensemble": metrics}
    details = {"ensemble": _detail(str(grid), record)}
    if baselines:
        config = config_from_record(record, run).with_changes(data=Path(data), progress=progress)
        with tempfile.TemporaryDirectory(prefix="edgekit-baseline-") as scratch:
            for name, cfg in baseline_configs(config, Path(scratch)).items():
                logger.info("training baseline %s", name)
                result = train(cfg)
                systems[name], _ = evaluate_ensemble(
                    result.ensemble, result.record.thresholds, test, progress, name
                )
                details[name] = _detail(str(cfg.grid), result.record)
    if figures is not None:
        from edgekit.train.figures import write_panels

        write_panels(figures, test, preds, record.thresholds)
    return EvalReport(
        data=str(data),
        n_test=len(test.labels),
        n_anomalous=int(test.labels.sum()),
        systems=systems,
        details=details,
    )
