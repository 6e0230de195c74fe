"""MVTec-layout datasets: ``CATEGORY/train/good``, ``test/<kind>``, ``ground_truth/<kind>/*_mask.png``.

Unreadable or truncated files are skipped, named and counted (a dataset on a shared drive often
has one); a split with nothing readable left is refused. Grayscale, BGRA and 16-bit images are
converted and counted. Images of mixed sizes are all resized to the requested size, with one
warning that lists the sizes seen. A source image smaller than a tile is refused: upsampling it
would invent the detail a tiled ensemble is there to see.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edgekit.data.images import ImageConversion, read_image, resize_to
from edgekit.errors import DataError

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
GOOD = "good"


@dataclass(frozen=True)
class Sample:
    """One image of a dataset split.

    Attributes:
        path: The image file.
        kind: ``"good"`` or the defect kind (the folder name under ``test``).
        mask_path: Ground-truth mask for a defective image, else None.
    """

    path: Path
    kind: str
    mask_path: Path | None = None

    @property
    def label(self) -> int:
        """1 for a defective image, 0 for a good one."""
        return int(self.kind != GOOD)


@dataclass(frozen=True)
class Dataset:
    """The files of one MVTec-layout category.

    Attributes:
        root: The category folder.
        train: Good training images.
        test: Test images, good and defective.
    """

    root: Path
    train: tuple[Sample, ...]
    test: tuple[Sample, ...]

    @property
    def n_test_anomalous(self) -> int:
        """Number of defective test images."""
        return sum(s.label for s in self.test)


@dataclass(frozen=True)
class LoadedSplit:
    """Images of a split, decoded, converted to BGR and resized.

    Attributes:
        images: ``uint8 [M, H, W, 3]`` BGR.
        labels: ``int64 [M]``, 1 for defective.
        masks: ``uint8 [M, H, W]`` in {0, 1} (zeros for good images).
        samples: The samples that loaded, aligned with ``images``.
        skipped: ``(path, reason)`` of every file that could not be used.
        conversions: How many images needed each conversion.
    """

    images: np.ndarray
    labels: np.ndarray
    masks: np.ndarray
    samples: tuple[Sample, ...]
    skipped: tuple[tuple[str, str], ...] = ()
    conversions: dict[str, int] = field(default_factory=dict)


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def scan_dataset(root: Path, *, need_test: bool = False) -> Dataset:
    """Find the images of an MVTec-layout category folder.

    Args:
        root: ``ROOT/CATEGORY``: holds ``train/good`` (and ``test``, ``ground_truth``).
        need_test: Refuse a dataset without test images.

    Returns:
        The dataset's file lists, sorted by name.

    Raises:
        DataError: If the folder, ``train/good`` or its images are missing, or a defective test
            image has no mask.
    """
    root = Path(root)
    layout = "expected the MVTec layout CATEGORY/train/good/*.png, CATEGORY/test/<kind>/*.png"
    if not root.is_dir():
        msg = f"data folder {root} does not exist; {layout}"
        raise DataError(msg)
    good = root / "train" / GOOD
    if not good.is_dir():
        msg = f"data folder {root} has no train/good folder; {layout}"
        raise DataError(msg)
    train = tuple(Sample(p, GOOD) for p in _images_in(good))
    if not train:
        msg = f"train folder {good} holds no images; accepted suffixes: {', '.join(IMAGE_SUFFIXES)}"
        raise DataError(msg)
    test = _scan_test(root)
    if need_test and not test:
        msg = f"data folder {root} has no test images; {layout}"
        raise DataError(msg)
    return Dataset(root=root, train=train, test=tuple(test))


def _scan_test(root: Path) -> list[Sample]:
    """``root/test/<kind>/*`` with their masks ``root/ground_truth/<kind>/<stem>_mask.png``.

    Raises:
        DataError: A defective image has no mask.
    """
    test: list[Sample] = []
    test_root = root / "test"
    if test_root.is_dir():
        for kind_dir in sorted(p for p in test_root.iterdir() if p.is_dir()):
            for path in _images_in(kind_dir):
                mask = None
                if kind_dir.name != GOOD:
                    mask = root / "ground_truth" / kind_dir.name / f"{path.stem}_mask.png"
                    if not mask.is_file():
                        msg = f"defective test image {path} has no mask: expected {mask}"
                        raise DataError(msg)
                test.append(Sample(path, kind_dir.name, mask))
    return test


def validation_folder(root: Path) -> Path | None:
    """The held-out validation folder of a category, if the data set has one.

    ``ROOT/validation/CATEGORY`` (``test/<good|kind>`` and ``ground_truth/<kind>``, the layout
    ``edgekit demo-data --set wide`` writes), or ``CATEGORY/validation`` in the same layout.
    """
    root = Path(root)
    for candidate in (root.parent / "validation" / root.name, root / "validation"):
        if (candidate / "test").is_dir():
            return candidate
    return None


def scan_validation(folder: Path) -> tuple[Sample, ...]:
    """The images of a validation folder (``test/<good|kind>`` with ``ground_truth/<kind>`` masks).

    Raises:
        DataError: No images, or a defective image without a mask.
    """
    folder = Path(folder)
    samples = _scan_test(folder)
    if not samples:
        msg = f"validation folder {folder} holds no images; expected {folder}/test/<good|kind>/*.png"
        raise DataError(msg)
    return tuple(samples)


def load_split(
    samples: tuple[Sample, ...] | list[Sample],
    image_hw: tuple[int, int],
    min_hw: tuple[int, int] = (1, 1),
    what: str = "split",
) -> LoadedSplit:
    """Decode, convert and resize a list of samples (each file read once).

    Args:
        samples: The samples to load.
        image_hw: Size every image is resized to.
        min_hw: Smallest accepted source size (the tile size: smaller sources are refused).
        what: Name of the split for messages.

    Returns:
        The loaded split; unreadable files are listed in ``skipped``.

    Raises:
        DataError: If a source image is smaller than ``min_hw`` or nothing could be read.
    """
    images, masks, kept, skipped = [], [], [], []
    conversions: Counter[str] = Counter()
    sizes: Counter[tuple[int, int]] = Counter()
    for sample in samples:
        try:
            image, conversion = read_image(sample.path)
        except DataError as error:
            skipped.append((str(sample.path), str(error)))
            logger.warning("skipping %s", error)
            continue
        src_hw = image.shape[:2]
        if src_hw[0] < min_hw[0] or src_hw[1] < min_hw[1]:
            msg = (
                f"image {sample.path} is {src_hw[0]}x{src_hw[1]}, smaller than a {min_hw[0]}x{min_hw[1]} tile; "
                "use a smaller --tile-size or larger images"
            )
            raise DataError(msg)
        if conversion is not ImageConversion.NONE:
            conversions[conversion.value] += 1
        sizes[src_hw] += 1
        mask = np.zeros(image_hw, dtype=np.uint8)
        if sample.mask_path is not None:
            raw = cv2.imread(str(sample.mask_path), cv2.IMREAD_GRAYSCALE)
            if raw is None:
                msg = f"mask {sample.mask_path} is unreadable or truncated"
                raise DataError(msg)
            mask = (resize_to(raw, image_hw) > 127).astype(np.uint8)
        images.append(resize_to(image, image_hw))
        masks.append(mask)
        kept.append(sample)
    if not kept:
        first = skipped[0][0] if skipped else "-"
        msg = f"no readable images in the {what} ({len(skipped)} unreadable, first: {first})"
        raise DataError(msg)
    if len(sizes) > 1:
        seen = ", ".join(f"{h}x{w} ({n})" for (h, w), n in sizes.most_common(5))
        logger.warning("%s has images of mixed sizes (%s); all are resized to %dx%d", what, seen, *image_hw)
    if conversions:
        logger.info("%s: converted %s to 3-channel BGR", what, dict(conversions))
    return LoadedSplit(
        images=np.stack(images),
        labels=np.array([s.label for s in kept], dtype=np.int64),
        masks=np.stack(masks),
        samples=tuple(kept),
        skipped=tuple(skipped),
        conversions=dict(conversions),
    )
