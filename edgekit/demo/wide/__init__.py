"""The wide benchmark set: ten categories from bundled photos, small defects of six kinds.

Textures (``grass``, ``tissue``, ``stars``), aligned objects (``cat``, ``astronaut``, ``logo``,
``retina``, ``rocket``) and scenes of several objects (``coins``, ``tray``), each written in the
MVTec AD layout with a held-out validation split and a ``defects.json`` that records every defect's
kind and area (0.02 % to 1 % of the frame). Generated like the demo data, deterministically for a
seed; needs the ``demo`` extra.

Example:
    >>> from edgekit.demo.wide import WideCounts, generate_wide_data
    >>> summary = generate_wide_data(Path("wide"), categories=["coins"], counts=WideCounts(train_good=20))
"""

from edgekit.demo.wide.catalog import (
    AREA_RANGES,
    KIND_AREA_RANGES,
    SPECS,
    WIDE_AREA_RANGE,
    CategorySpec,
    SizeClass,
    WideCategory,
    WideDefectKind,
    kind_area_range,
)
from edgekit.demo.wide.defects import MIN_MEAN_CHANGE, WideDefect, apply_wide_defect
from edgekit.demo.wide.plan import FramePlan, Lighting, Pose
from edgekit.demo.wide.scenes import WideScene
from edgekit.demo.wide.summary import DefectRecord, WideCategorySummary, WideCounts, WideSummary
from edgekit.demo.wide.writer import DEFECTS_NAME, MIN_WIDE_SIZE, SUMMARY_NAME, generate_wide_data

__all__ = [
    "AREA_RANGES",
    "DEFECTS_NAME",
    "KIND_AREA_RANGES",
    "MIN_MEAN_CHANGE",
    "MIN_WIDE_SIZE",
    "SPECS",
    "SUMMARY_NAME",
    "WIDE_AREA_RANGE",
    "CategorySpec",
    "DefectRecord",
    "FramePlan",
    "Lighting",
    "Pose",
    "SizeClass",
    "WideCategory",
    "WideCategorySummary",
    "WideCounts",
    "WideDefect",
    "WideDefectKind",
    "WideScene",
    "WideSummary",
    "apply_wide_defect",
    "generate_wide_data",
    "kind_area_range",
]
