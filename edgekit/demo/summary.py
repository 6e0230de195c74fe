"""Value types of the demo dataset generator: how much to write, and what was written."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit.demo.defects import DefectKind
from edgekit.demo.scenes import DemoCategory, SceneKind
from edgekit.errors import ConfigError

SCHEMA_VERSION = 1
GENERATOR = "edgekit demo-data"


@dataclass(frozen=True)
class DemoCounts:
    """How many images and video frames to write per category.

    Attributes:
        train_good: Defect-free training images (``train/good``).
        test_good: Defect-free test images (``test/good``).
        per_defect: Test images per defect kind (``test/<kind>`` with masks in ``ground_truth``).
        stream_frames: Frames in the demo video ``stream.avi``.
        stream_defective: How many of those frames carry one defect.
        stream_fps: Frame rate written into the video.
    """

    train_good: int = 60
    test_good: int = 20
    per_defect: int = 8
    stream_frames: int = 60
    stream_defective: int = 10
    stream_fps: float = 10.0

    def __post_init__(self) -> None:
        for name, least in (("train_good", 1), ("test_good", 0), ("per_defect", 1), ("stream_frames", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or value < least:
                msg = f"DemoCounts.{name} is {value!r}; accepted: an integer >= {least}"
                raise ConfigError(msg)
        if not isinstance(self.stream_defective, int) or not 0 <= self.stream_defective <= self.stream_frames:
            msg = (
                f"DemoCounts.stream_defective is {self.stream_defective!r}; "
                f"accepted: an integer from 0 to stream_frames ({self.stream_frames})"
            )
            raise ConfigError(msg)
        if not self.stream_fps > 0:
            msg = f"DemoCounts.stream_fps is {self.stream_fps!r}; accepted: a number > 0"
            raise ConfigError(msg)


@dataclass(frozen=True)
class StreamDefect:
    """One defective frame of a demo video.

    Attributes:
        index: Frame index, from 0.
        kind: The defect kind.
        box_xyxy: Bounding box of the defect, (x0, y0, x1, y1) in pixels, x1 and y1 exclusive.
    """

    index: int
    kind: DefectKind
    box_xyxy: tuple[int, int, int, int]


@dataclass(frozen=True)
class StreamInfo:
    """The demo video of one category and its sidecar.

    Attributes:
        video: Path of the video file: ``stream.avi`` (lossless FFV1), or ``stream.mp4`` / MJPG
            ``.avi`` where FFV1 cannot be written.
        sidecar: Path of ``stream.json``.
        fourcc: Codec the video was written with.
        fps: Frame rate.
        frame_count: Number of frames.
        frame_hw: (height, width) of the frames.
        defective: The defective frames, by index.
    """

    video: Path
    sidecar: Path
    fourcc: str
    fps: float
    frame_count: int
    frame_hw: tuple[int, int]
    defective: tuple[StreamDefect, ...]

    def to_json(self) -> dict[str, Any]:
        """The sidecar content (paths relative to the sidecar's folder).

        Returns:
            A JSON-ready dict.
        """
        return {
            "schema_version": SCHEMA_VERSION,
            "video": self.video.name,
            "fourcc": self.fourcc,
            "fps": self.fps,
            "frame_count": self.frame_count,
            "frame_hw": list(self.frame_hw),
            "defective_frames": [
                {"index": d.index, "kind": str(d.kind), "box_xyxy": list(d.box_xyxy)} for d in self.defective
            ],
        }


@dataclass(frozen=True)
class CategorySummary:
    """What was written for one category.

    Attributes:
        name: The category (folder name).
        scene: Texture or aligned-object scene.
        root: The category folder.
        train_good: Number of ``train/good`` images.
        test_good: Number of ``test/good`` images.
        defects: (kind, number of test images) per defect kind.
        stream: The demo video.
    """

    name: DemoCategory
    scene: SceneKind
    root: Path
    train_good: int
    test_good: int
    defects: tuple[tuple[DefectKind, int], ...]
    stream: StreamInfo

    @property
    def test_defective(self) -> int:
        """Number of defective test images."""
        return sum(n for _, n in self.defects)


@dataclass(frozen=True)
class DemoSummary:
    """What :func:`edgekit.demo.generate_demo_data` wrote.

    Attributes:
        root: The dataset folder.
        size: Side of the square frames, pixels.
        seed: The seed every image was drawn from.
        version: edgekit version that wrote it.
        counts: The requested counts.
        categories: One summary per category, in the order written.
        elapsed_s: Wall time of the generation, seconds (not written to ``demo.json``).
    """

    root: Path
    size: int
    seed: int
    version: str
    counts: DemoCounts
    categories: tuple[CategorySummary, ...]
    elapsed_s: float = field(default=0.0, compare=False)

    def to_json(self) -> dict[str, Any]:
        """The content of ``demo.json`` (deterministic: no timings; paths relative to ``root``).

        Returns:
            A JSON-ready dict.
        """
        return {
            "generator": GENERATOR,
            "schema_version": SCHEMA_VERSION,
            "edgekit_version": self.version,
            "size": self.size,
            "frame_hw": [self.size, self.size],
            "seed": self.seed,
            "layout": "mvtec",
            "categories": [
                {
                    "name": str(c.name),
                    "scene": str(c.scene),
                    "train_good": c.train_good,
                    "test_good": c.test_good,
                    "test_defects": {str(kind): n for kind, n in c.defects},
                    "stream": c.stream.video.relative_to(self.root).as_posix(),
                    "stream_sidecar": c.stream.sidecar.relative_to(self.root).as_posix(),
                }
                for c in self.categories
            ],
        }
