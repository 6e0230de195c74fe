"""NNCF post-training INT8 quantization of the fused graph, with the heads' distance math kept in float.

The trunk's convolutions are quantized (that is where INT8 pays on CPUs with VNNI/AMX). The heads
are not: PaDiM's Mahalanobis MatMul over inverse covariances, PatchCore's nearest-neighbour
distances, the upsampling and the Gaussian blurs of the anomaly map generators. Their inputs are
small differences of large numbers, and anomalib's own INT8 export that quantized them produced
constant scores (see DESIGN.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from edgekit._extras import require

logger = logging.getLogger(__name__)

# Node-name patterns of the head parts in graphs converted from edgekit.train.graph: the fused PaDiM
# head, the join, the frame blur, seam smoothing, the z_coverage score (``z``: a median of 8-bit values
# collapses), every anomaly-map generator, and the ops of the whole-frame graph's own forward
# (normalization, slicing, upsampling, score), named ``aten::...``.
HEAD_PATTERNS = (
    r"__module\.(padim|join|blur|seams|z)[/.].*",
    r"aten::.*",
    r".*anomaly_map_generator.*",
    r".*blur.*",
    r".*memory_bank.*",
    r".*euclidean.*",
)


#: Layer groups NNCF accuracy control may revert to float before it gives up.
MAX_RESTORE_ITERATIONS = 6


def ignored_scope() -> Any:
    """NNCF ignored scope: every MatMul (the heads' distances) and every op under a head module."""
    nncf = require("nncf", "export")
    return nncf.IgnoredScope(patterns=list(HEAD_PATTERNS), types=["MatMul"], validate=False)


def quantize(
    model: Any,
    calibration: list[Any],
    *,
    transform: Callable[[Any], Any] | None = None,
    max_drop: float | None = None,
    validation: list[Any] | None = None,
    validate: Callable[[Any, list[Any]], float] | None = None,
) -> Any:
    """Quantize ``model`` to INT8 with NNCF.

    Args:
        model: The ``ov.Model`` with its uint8 input.
        calibration: Calibration items (one per frame).
        transform: Turns an item into the model's input (e.g. a uint8 BGR frame into float RGB NCHW).
        max_drop: With a value, use ``nncf.quantize_with_accuracy_control`` allowing this absolute
            drop of the validation metric; layers are reverted to float until it holds.
        validation: Validation items for accuracy control.
        validate: ``(compiled_model, items) -> metric`` for accuracy control.

    Returns:
        The quantized ``ov.Model``.
    """
    nncf = require("nncf", "export")
    if not logger.isEnabledFor(logging.DEBUG):
        # NNCF logs every node it skips at INFO; keep the export's output to its own table
        logging.getLogger("nncf").setLevel(logging.WARNING)
    dataset = nncf.Dataset(calibration, transform)
    common = {
        "subset_size": len(calibration),
        "preset": nncf.QuantizationPreset.MIXED,
        "ignored_scope": ignored_scope(),
    }
    if max_drop is None:
        return nncf.quantize(model, dataset, **common)
    if validation is None or validate is None:
        msg = "accuracy-controlled quantization needs validation items and a validation function"
        raise ValueError(msg)
    advanced = require("nncf.quantization.advanced_parameters", "export")
    # NNCF's default is to revert layers to float until the drop holds, with no bound on the number
    # of tries (each one re-validates every frame): measured on a weak texture model, 15+ minutes.
    # Past MAX_RESTORE_ITERATIONS groups the budget check after quantization decides.
    restorer = advanced.AdvancedAccuracyRestorerParameters(
        max_num_iterations=MAX_RESTORE_ITERATIONS, ranking_subset_size=min(len(validation), 32)
    )
    return nncf.quantize_with_accuracy_control(
        model,
        calibration_dataset=dataset,
        validation_dataset=nncf.Dataset(validation),
        validation_fn=validate,
        max_drop=max_drop,
        drop_type=nncf.DropType.ABSOLUTE,
        advanced_accuracy_restorer_parameters=restorer,
        **common,
    )
