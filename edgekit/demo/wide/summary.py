"""Value types of the wide-set generator: how much to write, and what was written."""

from __future__ import annotations

import os
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit.demo.scenes import SceneKind
from edgekit.demo.summary import GENERATOR, SCHEMA_VERSION
from edgekit.demo.wide.catalog import AREA_RANGES, SizeClass, WideCategory, WideDefectKind
from edgekit.errors import ConfigError

SET_NAME = "wide"


@dataclass(frozen=True)
class WideCounts:
    """How many images to write per category.

    Attributes:
        train_good: Defect-free training images (``train/good``).
        validation_good: Defect-free validation images (``validation/<category>/test/good``).
        validation_per_defect: Validation images per defect kind (``validation/<category>/test/<kind>``).
        test_good: Defect-free test images (``test/good``).
        per_defect: Test images per defect kind (``test/<kind>``).
    """

    train_good: int = 64
    validation_good: int = 8
    validation_per_defect: int = 1
    test_good: int = 24
    per_defect: int = 6

    def __post_init__(self) -> None:
        for name, least in (
            ("train_good", 1),
            ("validation_good", 0),
            ("validation_per_defect", 0),
            ("test_good", 0),
            ("per_defect", 1),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                msg = f"WideCounts.{name} is {value!r}; accepted: an integer >= {least}"
                raise ConfigError(msg)


@dataclass(frozen=True)
class DefectRecord:
    """One defective image of a category, as ``defects.json`` lists it.

    Attributes:
        split: ``"test"`` or ``"validation"``.
        image: Path relative to the split's folder (the category folder for the test split,
            ``validation/<category>`` for validation), e.g. ``test/crack/000.png``.
        mask: Path of its mask, relative to the same folder.
        kind: The defect kind.
        area_fraction: Share of the frame the mask covers.
        box_xyxy: Bounding box of the mask, x1 and y1 exclusive.
    """

    split: str
    image: str
    mask: str
    kind: WideDefectKind
    area_fraction: float
    box_xyxy: tuple[int, int, int, int]


@dataclass(frozen=True)
class WideCategorySummary:
    """What was written for one category.

    Attributes:
        name: The category (folder name).
        scene: Texture, aligned object or several objects.
        size_class: Defect area range of the category.
        root: The category folder (MVTec AD: train, test, ground_truth).
        validation_root: The category's validation folder (test-only MVTec AD).
        counts: The image counts written.
        kinds: The defect kinds of the category.
        defects: Every defective image, validation and test.
    """

    name: WideCategory
    scene: SceneKind
    size_class: SizeClass
    root: Path
    validation_root: Path
    counts: WideCounts
    kinds: tuple[WideDefectKind, ...]
    defects: tuple[DefectRecord, ...]

    @property
    def test_defective(self) -> int:
        """Number of defective test images."""
        return self.counts.per_defect * len(self.kinds)

    @property
    def validation_defective(self) -> int:
        """Number of defective validation images."""
        return self.counts.validation_per_defect * len(self.kinds)

    def defects_json(self, size: int, seed: int) -> dict[str, Any]:
        """The content of the category's ``defects.json``.

        Args:
            size: Frame side, pixels.
            seed: The data set seed.

        Returns:
            A JSON-ready dict: the category, its area range and every defective image.
        """
        test = [d.area_fraction for d in self.defects if d.split == "test"]
        return {
            "generator": GENERATOR,
            "set": SET_NAME,
            "schema_version": SCHEMA_VERSION,
            "category": str(self.name),
            "scene": str(self.scene),
            "size_class": str(self.size_class),
            "area_fraction_range": list(AREA_RANGES[self.size_class]),
            "frame_hw": [size, size],
            "seed": seed,
            "test_area_fraction": {"min": min(test), "median": statistics.median(test), "max": max(test)},
            "images": _images(d for d in self.defects if d.split == "test"),
            "validation_root": os.path.relpath(self.validation_root, self.root).replace(os.sep, "/"),
            "validation_images": _images(d for d in self.defects if d.split != "test"),
        }


def _images(records: Iterable[DefectRecord]) -> dict[str, dict[str, Any]]:
    return {
        d.image: {"kind": str(d.kind), "area_fraction": d.area_fraction, "mask": d.mask, "box_xyxy": list(d.box_xyxy)}
        for d in records
    }


@dataclass(frozen=True)
class WideSummary:
    """What :func:`edgekit.demo.wide.generate_wide_data` wrote.

    Attributes:
        root: The data set folder.
        size: Side of the square frames, pixels.
        seed: The seed every image was drawn from.
        version: edgekit version that wrote it.
        counts: The requested counts.
        categories: One summary per category, in the order written.
        elapsed_s: Wall time of the generation, seconds (not written to ``wide.json``).
    """

    root: Path
    size: int
    seed: int
    version: str
    counts: WideCounts
    categories: tuple[WideCategorySummary, ...]
    elapsed_s: float = field(default=0.0, compare=False)

    def to_json(self) -> dict[str, Any]:
        """The content of ``wide.json`` (deterministic: no timings; paths relative to ``root``).

        Returns:
            A JSON-ready dict.
        """
        return {
            "generator": GENERATOR,
            "set": SET_NAME,
            "schema_version": SCHEMA_VERSION,
            "edgekit_version": self.version,
            "size": self.size,
            "frame_hw": [self.size, self.size],
            "seed": self.seed,
            "layout": "mvtec",
            "validation_layout": "validation/<category>: test/<good|kind>/NNN.png, ground_truth/<kind>/NNN_mask.png",
            "categories": [
                {
                    "name": str(c.name),
                    "scene": str(c.scene),
                    "size_class": str(c.size_class),
                    "area_fraction_range": list(AREA_RANGES[c.size_class]),
                    "train_good": c.counts.train_good,
                    "validation_good": c.counts.validation_good,
                    "validation_defects": {str(k): c.counts.validation_per_defect for k in c.kinds},
                    "test_good": c.counts.test_good,
                    "test_defects": {str(k): c.counts.per_defect for k in c.kinds},
                    "defects": (c.root / "defects.json").relative_to(self.root).as_posix(),
                    "validation": c.validation_root.relative_to(self.root).as_posix(),
                }
                for c in self.categories
            ],
        }
