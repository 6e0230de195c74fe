"""``edgekit evaluate BUNDLE``: the exported model's metrics on a test split, read from the graph itself.

What the user deploys is the bundle: INT8 where the run was FP32, at its own thresholds. Export's
accuracy check scores it on the validation frames only; this scores it on the test split, with the
same metrics ``edgekit evaluate RUN`` reports (:func:`edgekit.evaluation.split_metrics`). The raw
map and score are recovered from the stored graph (:func:`edgekit.export.post.raw_outputs`) and the
frames go in as the runtime feeds them (uint8 BGR), so neither torch nor anomalib is needed.
"""

from __future__ import annotations

import logging
from pathlib import Path

from edgekit._extras import require
from edgekit.artifacts.manifest import EnsembleManifest
from edgekit.data import load_split, scan_dataset
from edgekit.evaluation import EvalReport, split_metrics
from edgekit.export.accuracy import compile_raw, predict
from edgekit.export.post import raw_outputs

ov = require("openvino", "export")
logger = logging.getLogger(__name__)


def _fitted_on(manifest: EnsembleManifest) -> str:
    """The frames the bundle's thresholds were fitted on, as export recorded them."""
    return f"the exported model's {manifest.accuracy.get('thresholds_split', 'validation frames')}"


def evaluate_bundle(folder: Path, data: Path) -> EvalReport:
    """Metrics of a bundle on a dataset's test split, at the bundle's frame size and thresholds.

    Args:
        folder: The bundle folder written by ``edgekit export`` (its files are hash-checked).
        data: Dataset category folder (MVTec layout) with a test split.

    Returns:
        The report; the system is named ``bundle (<precision>)``.
    """
    manifest = EnsembleManifest.load(folder)
    grid = manifest.grid
    test = load_split(scan_dataset(data, need_test=True).test, grid.image_hw, min_hw=grid.tile_hw, what="test split")
    compiled = compile_raw(raw_outputs(ov.Core().read_model(Path(folder) / manifest.xml)))
    logger.info("scoring %d test frames with %s", len(test.labels), folder)
    preds = predict(compiled, test.images)
    name = f"bundle ({manifest.precision})"
    t = manifest.thresholds
    return EvalReport(
        data=str(data),
        n_test=len(test.labels),
        n_anomalous=int(test.labels.sum()),
        systems={name: split_metrics(preds.scores, test.labels, preds.maps, test.masks, t)},
        details={name: {"grid": str(grid), "thresholds": t.method, "thresholds_from": _fitted_on(manifest)}},
        main=name,
    )
