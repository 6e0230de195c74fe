"""Write the demo dataset in the MVTec AD layout, one category at a time.

```
OUT/demo.json                                 written last: its presence means "complete"
OUT/<category>/train/good/000.png
OUT/<category>/test/good/000.png
OUT/<category>/test/<kind>/000.png
OUT/<category>/ground_truth/<kind>/000_mask.png   0/255, same stem as the test image + "_mask"
OUT/<category>/stream.avi + stream.json       demo video and its defective frame indices
```

Every image has its own generator, seeded from (seed, category, split, index), so a category or an
item is the same whatever else is generated, and the same seed gives byte-identical PNGs.
"""

from __future__ import annotations

import logging
import sys
import time
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from edgekit import __version__
from edgekit.demo.defects import DefectKind, apply_defect
from edgekit.demo.files import (
    check_names,
    check_size_seed,
    file_stem,
    finish_output,
    prepare_output,
    write_json,
    write_png,
)
from edgekit.demo.scenes import DemoCategory, Scene
from edgekit.demo.summary import CategorySummary, DemoCounts, DemoSummary, StreamDefect, StreamInfo
from edgekit.demo.video import write_video

logger = logging.getLogger(__name__)

SUMMARY_NAME = "demo.json"


def item_rng(seed: int, category: str, split: str, index: int) -> np.random.Generator:
    """The generator of one item: independent of every other item and of Python's hash seed.

    Args:
        seed: The dataset seed.
        category: Category name.
        split: Folder or stream part, e.g. ``"train/good"``, ``"test/stain"``, ``"stream"``.
        index: Item number within the split.

    Returns:
        A fresh numpy Generator.
    """
    return np.random.default_rng([seed, zlib.crc32(category.encode()), zlib.crc32(split.encode()), index])


def generate_demo_data(
    out: Path,
    size: int = 512,
    seed: int = 0,
    *,
    counts: DemoCounts | None = None,
    categories: Sequence[str] | None = None,
    progress: bool = True,
) -> DemoSummary:
    """Write the real-photo demo dataset (MVTec layout, masks, demo videos) to ``out``.

    Args:
        out: Output folder: new, empty, or an earlier demo-data output (which is regenerated).
        size: Side of the square frames in pixels; even, at least 64.
        seed: Non-negative seed; the same seed writes byte-identical images.
        counts: Images and video frames per category; :class:`DemoCounts` defaults if None.
        categories: Category names (see :class:`DemoCategory`); all of them if None.
        progress: Show a progress bar (only when stderr is a terminal).

    Returns:
        What was written.

    Raises:
        ConfigError: If size, seed or a category is not accepted, or ``out`` holds something else.
        DataError: If an image or video cannot be written.
    """
    check_size_seed(size, seed)
    chosen = _check_categories(categories)
    counts = counts if counts is not None else DemoCounts()
    root = Path(out)
    prepare_output(root, SUMMARY_NAME, [str(c) for c in DemoCategory])
    start = time.perf_counter()
    per_category = counts.train_good + counts.test_good + counts.per_defect * len(DefectKind)
    total = len(chosen) * (per_category + counts.stream_frames)
    disable = not progress or not sys.stderr.isatty()
    written = []
    with tqdm(total=total, desc="demo-data", unit="img", disable=disable) as bar:
        for category in chosen:
            bar.set_postfix_str(str(category))
            written.append(_write_category(root, category, size, seed, counts, bar))
    summary = DemoSummary(root, size, seed, __version__, counts, tuple(written), time.perf_counter() - start)
    finish_output(root, SUMMARY_NAME, summary.to_json())
    logger.info("wrote demo data for %d categories to %s in %.1f s", len(written), root, summary.elapsed_s)
    return summary


def _check_categories(categories: Sequence[str] | None) -> tuple[DemoCategory, ...]:
    return tuple(DemoCategory(c) for c in check_names(categories, list(DemoCategory), "demo"))


def _write_category(
    root: Path, category: DemoCategory, size: int, seed: int, counts: DemoCounts, bar: tqdm
) -> CategorySummary:
    scene = Scene.load(category, size)
    folder = root / category
    for split, n in (("train/good", counts.train_good), ("test/good", counts.test_good)):
        for i in range(n):
            image = scene.render(item_rng(seed, category, split, i))
            write_png(folder / split / f"{file_stem(i, n)}.png", image)
            bar.update()
    for kind in DefectKind:
        n = counts.per_defect
        for i in range(n):
            rng = item_rng(seed, category, f"test/{kind}", i)
            sample = apply_defect(scene.render(rng), kind, rng)
            write_png(folder / "test" / kind / f"{file_stem(i, n)}.png", sample.image)
            write_png(folder / "ground_truth" / kind / f"{file_stem(i, n)}_mask.png", sample.mask)
            bar.update()
    stream = _write_stream(folder, scene, seed, counts, bar)
    defects = tuple((kind, counts.per_defect) for kind in DefectKind)
    return CategorySummary(category, scene.kind, folder, counts.train_good, counts.test_good, defects, stream)


def _write_stream(folder: Path, scene: Scene, seed: int, counts: DemoCounts, bar: tqdm) -> StreamInfo:
    """The demo video: fresh draws of normal frames, with some carrying one defect each."""
    plan_rng = item_rng(seed, scene.category, "stream/plan", 0)
    picked = sorted(
        int(i) for i in plan_rng.choice(counts.stream_frames, counts.stream_defective, replace=False)
    )
    kinds = [list(DefectKind)[j % len(DefectKind)] for j in range(len(picked))]
    plan = dict(zip(picked, (kinds[j] for j in plan_rng.permutation(len(kinds))), strict=True))
    boxes: dict[int, tuple[int, int, int, int]] = {}
    passes = [0]  # the writer may call frames() again with a fallback codec: count progress once

    def frames() -> Iterator[np.ndarray]:
        first_pass = passes[0] == 0
        passes[0] += 1
        for i in range(counts.stream_frames):
            rng = item_rng(seed, scene.category, "stream", i)
            frame = scene.render(rng)
            if i in plan:
                sample = apply_defect(frame, plan[i], rng)
                boxes[i] = sample.box_xyxy
                frame = sample.image
            if first_pass:
                bar.update()
            yield frame

    frame_hw = (scene.size, scene.size)
    video = write_video(folder / "stream", frames, counts.stream_frames, counts.stream_fps, frame_hw)
    defective = tuple(StreamDefect(i, plan[i], boxes[i]) for i in picked)
    info = StreamInfo(
        video.path,
        folder / "stream.json",
        video.fourcc,
        counts.stream_fps,
        counts.stream_frames,
        frame_hw,
        defective,
    )
    write_json(info.sidecar, info.to_json())
    return info
