"""The training record: ``RUN/training.json``, what ``edgekit train`` leaves for evaluate and export.

A run folder holds this record, ``trunk.safetensors`` (the shared frozen backbone), one
``positions/pNN.safetensors`` per tile position (that position's own state: PaDiM Gaussians,
PatchCore memory bank, a trained student ...), ``shared.safetensors`` where state is fitted once
for all positions (PaDiM's per-frame-location Gaussians with ``--tiling features``) and
``graph/frame.xml|bin``, the FP32 whole-frame OpenVINO graph (raw map and score out) that the
export stage quantizes and finishes. No pickles. Every file is listed with its SHA-256.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from edgekit.artifacts.files import (
    check_choice,
    check_finite,
    check_listed_files,
    check_schema,
    read_json,
    safe_relpath,
    verify_file,
    write_json,
)
from edgekit.errors import ArtifactError, ConfigError
from edgekit.tiling import TileGrid

RECORD_NAME = "training.json"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class FileEntry:
    """A file of an artifact folder.

    Attributes:
        path: Relative path inside the folder.
        sha256: Hex SHA-256 of the content.
        bytes: Size on disk.
    """

    path: str
    sha256: str
    bytes: int


class ThresholdMethod(StrEnum):
    """How the image and pixel thresholds were chosen from validation data."""

    F1_ADAPTIVE = "f1_adaptive"
    NORMAL_QUANTILE = "normal_quantile"


@dataclass(frozen=True)
class Thresholds:
    """Normalization statistics and thresholds from validation, on raw (unnormalized) scores.

    Validated on construction, whether read from a file or computed by training: a NaN or an
    inverted range here would silently turn every frame normal (or anomalous) downstream.

    Attributes:
        image_threshold: Raw frame score above which a frame is anomalous.
        pixel_threshold: Raw map value above which a pixel is anomalous.
        image_min: Smallest validation frame score (normalization).
        image_max: Largest validation frame score.
        pixel_min: Smallest validation map value.
        pixel_max: Largest validation map value.
        method: ``f1_adaptive`` or ``normal_quantile``.
        detail: One sentence saying how the thresholds were chosen.

    Raises:
        ArtifactError: If a value is not a finite number, a minimum exceeds its maximum, or the
            method is unknown.
    """

    image_threshold: float
    pixel_threshold: float
    image_min: float
    image_max: float
    pixel_min: float
    pixel_max: float
    method: str
    detail: str

    def __post_init__(self) -> None:
        for name in ("image_threshold", "pixel_threshold", "image_min", "image_max", "pixel_min", "pixel_max"):
            check_finite(getattr(self, name), f"thresholds.{name}")
        for kind in ("image", "pixel"):
            low, high = getattr(self, f"{kind}_min"), getattr(self, f"{kind}_max")
            if low > high:
                msg = (
                    f"thresholds.{kind}_min {low!r} is greater than thresholds.{kind}_max {high!r}; "
                    f"accepted: {kind}_min <= {kind}_max"
                )
                raise ArtifactError(msg)
        check_choice(self.method, ThresholdMethod, "thresholds.method")


@dataclass(frozen=True)
class TrainingRecord:
    """Everything needed to rebuild and judge a trained tiled ensemble."""

    model: str
    backbone: str
    backbone_source: str
    grid: TileGrid
    score_rule: str
    options: dict[str, Any]
    trunk: FileEntry
    positions: tuple[FileEntry, ...]
    position_state_bytes: tuple[int, ...]
    thresholds: Thresholds
    data: dict[str, Any]
    versions: dict[str, str]
    timing: dict[str, float]
    created_utc: str
    graph: dict[str, Any] = field(default_factory=dict)
    graph_files: tuple[FileEntry, ...] = ()
    shared: FileEntry | None = None
    schema_version: int = SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["grid"] = self.grid.to_dict()
        return {"schema_version": self.schema_version, **{k: v for k, v in data.items() if k != "schema_version"}}

    def save(self, run: Path) -> None:
        """Write ``run/training.json`` atomically."""
        write_json(run / RECORD_NAME, self.to_dict())

    def check_files(self) -> None:
        """Check the listed files: paths inside the run, none twice, each IR with its ``.bin``.

        Done on load rather than on construction: training builds entries before their final path is
        known. The graph section's ``xml`` and ``bin`` (what export hands to OpenVINO) must be listed
        files, so they are hash-checked too.

        Raises:
            ArtifactError: Naming the field and path that break the rule.
        """
        listed = [
            ("trunk.path", self.trunk.path),
            *((f"positions[{i}].path", e.path) for i, e in enumerate(self.positions)),
            *((f"graph_files[{i}].path", e.path) for i, e in enumerate(self.graph_files)),
            *((("shared.path", self.shared.path),) if self.shared is not None else ()),
        ]
        check_listed_files(listed, "training record")
        graph_paths = {e.path for e in self.graph_files}
        for key in ("xml", "bin"):
            if key in self.graph:
                rel = safe_relpath(self.graph[key], f"graph.{key}")
                if rel not in graph_paths:
                    msg = f"graph.{key} {rel!r} is not among graph_files; accepted: a path listed in graph_files"
                    raise ArtifactError(msg)

    @classmethod
    def load(cls, run: Path, *, verify: bool = True) -> TrainingRecord:
        """Read and check a run folder's record (and, by default, every file's hash).

        Args:
            run: The run folder.
            verify: Check that every listed file exists with its recorded SHA-256.

        Returns:
            The record.

        Raises:
            ArtifactError: Missing, corrupt, newer-schema or altered run.
        """
        run = Path(run)
        if not run.is_dir():
            msg = f"run folder {run} does not exist; create it with: edgekit train --data DATA --out {run}"
            raise ArtifactError(msg)
        data = read_json(run / RECORD_NAME, "training record")
        check_schema(data, SCHEMA_VERSION, "training record", run / RECORD_NAME)
        try:
            record = cls(
                model=data["model"],
                backbone=data["backbone"],
                backbone_source=data["backbone_source"],
                grid=TileGrid.from_dict(data["grid"]),
                score_rule=data["score_rule"],
                options=dict(data["options"]),
                trunk=FileEntry(**data["trunk"]),
                positions=tuple(FileEntry(**p) for p in data["positions"]),
                position_state_bytes=tuple(data["position_state_bytes"]),
                thresholds=Thresholds(**data["thresholds"]),
                data=dict(data["data"]),
                versions=dict(data["versions"]),
                timing=dict(data["timing"]),
                created_utc=data["created_utc"],
                graph=dict(data.get("graph", {})),
                graph_files=tuple(FileEntry(**g) for g in data.get("graph_files", ())),
                shared=FileEntry(**data["shared"]) if data.get("shared") else None,
                schema_version=data["schema_version"],
                extra=dict(data.get("extra", {})),
            )
        except (KeyError, TypeError) as error:
            msg = f"training record {run / RECORD_NAME} is incomplete or malformed ({error!r})"
            raise ArtifactError(msg) from error
        except (ArtifactError, ConfigError) as error:
            msg = f"training record {run / RECORD_NAME}: {error}"
            raise ArtifactError(msg) from error
        if len(record.positions) != record.grid.n_tiles:
            msg = f"training record lists {len(record.positions)} position files, the grid has {record.grid.n_tiles}"
            raise ArtifactError(msg)
        try:
            record.check_files()
        except ArtifactError as error:
            msg = f"training record {run / RECORD_NAME}: {error}"
            raise ArtifactError(msg) from error
        if verify:
            shared = (record.shared,) if record.shared is not None else ()
            for entry in (record.trunk, *record.positions, *record.graph_files, *shared):
                verify_file(run, entry.path, entry.sha256, "run folder")
        return record
