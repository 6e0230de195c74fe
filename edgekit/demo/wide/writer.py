"""Write the wide benchmark set in the MVTec AD layout, plus a held-out validation split.

```
OUT/wide.json                                        written last: its presence means "complete"
OUT/<category>/train/good/000.png
OUT/<category>/test/good/000.png
OUT/<category>/test/<kind>/000.png
OUT/<category>/ground_truth/<kind>/000_mask.png      0/255, same stem as the test image + "_mask"
OUT/<category>/defects.json                          every defective image: kind, area fraction, box
OUT/validation/<category>/test/good/000.png          held out from training, for thresholds
OUT/validation/<category>/test/<kind>/000.png
OUT/validation/<category>/ground_truth/<kind>/000_mask.png
```

A category folder is exactly MVTec AD, so ``edgekit train`` (and anomalib's MVTec reader, which
takes every image under the folder as a sample) use it as it is. Its validation split is a
test-only MVTec AD folder of its own, ``OUT/validation/<category>``: read it the way a test split is
read. Every image has its own generator, seeded from (seed, category, split, index), so the same
seed writes byte-identical files, and a category is the same whatever else is written.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from edgekit import __version__
from edgekit.demo.files import (
    check_names,
    check_size_seed,
    file_stem,
    finish_output,
    prepare_output,
    write_json,
    write_png,
)
from edgekit.demo.wide.catalog import WideCategory
from edgekit.demo.wide.defects import apply_wide_defect
from edgekit.demo.wide.scenes import WideScene
from edgekit.demo.wide.summary import DefectRecord, WideCategorySummary, WideCounts, WideSummary
from edgekit.demo.writer import item_rng

logger = logging.getLogger(__name__)

SUMMARY_NAME = "wide.json"
DEFECTS_NAME = "defects.json"
# A 0.02 % defect is 3 pixels at 128: smaller frames cannot hold the smallest defects.
MIN_WIDE_SIZE = 128

VALIDATION = "validation"


def generate_wide_data(
    out: Path,
    size: int = 512,
    seed: int = 0,
    *,
    counts: WideCounts | None = None,
    categories: Sequence[str] | None = None,
    progress: bool = True,
) -> WideSummary:
    """Write the wide benchmark set (MVTec layout, validation split, masks, defect sizes) to ``out``.

    Args:
        out: Output folder: new, empty, or an earlier wide-set output (which is regenerated).
        size: Side of the square frames in pixels, at least 128.
        seed: Non-negative seed; the same seed writes byte-identical images.
        counts: Images per category; :class:`WideCounts` defaults if None.
        categories: Category names (see :class:`WideCategory`); all of them if None.
        progress: Show a progress bar (only when stderr is a terminal).

    Returns:
        What was written.

    Raises:
        ConfigError: If size, seed or a category is not accepted, or ``out`` holds something else.
        DataError: If an image cannot be written.
    """
    check_size_seed(size, seed, MIN_WIDE_SIZE, even=False)
    chosen = tuple(WideCategory(c) for c in check_names(categories, list(WideCategory), "wide"))
    counts = counts if counts is not None else WideCounts()
    root = Path(out)
    prepare_output(root, SUMMARY_NAME, [*(str(c) for c in WideCategory), VALIDATION])
    start = time.perf_counter()
    disable = not progress or not sys.stderr.isatty()
    written = []
    with tqdm(total=len(chosen), desc="demo-data --set wide", unit="category", disable=disable) as bar:
        for category in chosen:
            bar.set_postfix_str(str(category))
            written.append(_write_category(root, category, size, seed, counts))
            bar.update()
    summary = WideSummary(root, size, seed, __version__, counts, tuple(written), time.perf_counter() - start)
    finish_output(root, SUMMARY_NAME, summary.to_json())
    logger.info("wrote the wide set, %d categories, to %s in %.1f s", len(written), root, summary.elapsed_s)
    return summary


def _write_category(
    root: Path, category: WideCategory, size: int, seed: int, counts: WideCounts
) -> WideCategorySummary:
    scene = WideScene.load(category, size)
    folder, held_out = root / category, root / VALIDATION / category
    # (split: names the images' generators and the defect records, folder, good images, per defect kind)
    splits = (
        ("train", folder, counts.train_good, 0),
        ("test", folder, counts.test_good, counts.per_defect),
        (VALIDATION, held_out, counts.validation_good, counts.validation_per_defect),
    )
    records = []
    for split, destination, n_good, n_defect in splits:
        sub = "train/good" if split == "train" else "test/good"
        for i in range(n_good):
            image = scene.render(item_rng(seed, category, f"{split}/good", i))
            write_png(destination / sub / f"{file_stem(i, n_good)}.png", image)
        for kind in scene.spec.defect_kinds if n_defect else ():
            for i in range(n_defect):
                rng = item_rng(seed, category, f"{split}/{kind}", i)
                sample = apply_wide_defect(scene, scene.plan(rng), kind, rng)
                stem = file_stem(i, n_defect)
                image, mask = f"test/{kind}/{stem}.png", f"ground_truth/{kind}/{stem}_mask.png"
                write_png(destination / image, sample.image)
                write_png(destination / mask, sample.mask)
                records.append(DefectRecord(split, image, mask, kind, sample.area_fraction, sample.box_xyxy))
    spec = scene.spec
    summary = WideCategorySummary(
        category, scene.kind, spec.size_class, folder, held_out, counts, spec.defect_kinds, tuple(records)
    )
    write_json(folder / DEFECTS_NAME, summary.defects_json(size, seed))
    return summary
