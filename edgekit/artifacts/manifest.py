"""The bundle manifest: ``BUNDLE/manifest.json``, what makes an exported ensemble self-describing.

A bundle is one standard OpenVINO IR (``ensemble.xml`` + ``.bin``): the whole frame in (float
``[1, 3, H, W]`` RGB in [0, 1]), anomalib's four outputs out (see :mod:`edgekit.artifacts.ir`), plus
this manifest: grid, input spec, join rules, normalization statistics and
thresholds, precision, the accuracy check against FP32, sizes, and the SHA-256 of every file.
Loading a bundle needs numpy and the standard library only; the runtime adds OpenVINO.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgekit.artifacts.files import (
    check_choice,
    check_finite,
    check_listed_files,
    check_schema,
    read_json,
    verify_file,
    write_json,
)
from edgekit.artifacts.record import FileEntry, Thresholds
from edgekit.errors import ArtifactError, ConfigError
from edgekit.tiling import JoinOrder, JoinWeights, ScoreRule, TileGrid

MANIFEST_NAME = "manifest.json"
SCHEMA_VERSION = 1


PRECISIONS = ("int8", "fp16", "fp32")


@dataclass(frozen=True)
class JoinRules:
    """How tile maps become a frame result.

    Attributes:
        score_rule: ``max`` of the joined map, ``z_coverage`` or ``mean_of_tile_max`` (see :class:`ScoreRule`).
        seam_width: Half-width of the seam-smoothing band in pixels (0 = off).
        seam_sigma: Gaussian sigma of seam smoothing.
        weights: Overlap weighting of the join, ``uniform`` or ``taper``.
        order: Where the tile maps are joined, ``tile`` or ``frame`` (see :class:`edgekit.tiling.JoinOrder`);
            a manifest written before this field existed was joined per tile.
        z_reference: ``z_coverage``'s fitted ``(median, MAD)`` per coverage group (empty for other rules).

    Raises:
        ArtifactError: If a name is unknown, ``seam_width`` is not an int >= 0 or ``seam_sigma``
            not a finite number > 0.
    """

    score_rule: str = ScoreRule.MAX.value
    seam_width: int = 0
    seam_sigma: float = 2.0
    weights: str = JoinWeights.UNIFORM.value
    order: str = JoinOrder.TILE.value
    z_reference: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        check_choice(self.score_rule, ScoreRule, "join.score_rule")
        if not isinstance(self.z_reference, (list, tuple)) or any(
            not isinstance(pair, (list, tuple)) or len(pair) != 2 for pair in self.z_reference
        ):
            msg = f"join.z_reference {self.z_reference!r} is invalid; accepted: a list of [median, MAD] pairs"
            raise ArtifactError(msg)
        for i, (med, mad) in enumerate(self.z_reference):
            check_finite(med, f"join.z_reference[{i}][0]")
            check_finite(mad, f"join.z_reference[{i}][1]")
            if mad < 0:
                msg = f"join.z_reference[{i}] MAD {mad!r} is invalid; accepted: a finite number >= 0"
                raise ArtifactError(msg)
        object.__setattr__(self, "z_reference", tuple((float(m), float(d)) for m, d in self.z_reference))
        if self.score_rule == ScoreRule.Z_COVERAGE.value and not self.z_reference:
            msg = "join.z_reference is empty; accepted for score rule z_coverage: its fitted [median, MAD] pairs"
            raise ArtifactError(msg)
        check_choice(self.weights, JoinWeights, "join.weights")
        check_choice(self.order, JoinOrder, "join.order")
        if isinstance(self.seam_width, bool) or not isinstance(self.seam_width, int) or self.seam_width < 0:
            msg = f"join.seam_width {self.seam_width!r} is invalid; accepted: an int >= 0 (0 = no seam smoothing)"
            raise ArtifactError(msg)
        check_finite(self.seam_sigma, "join.seam_sigma")
        if self.seam_sigma <= 0:
            msg = f"join.seam_sigma {self.seam_sigma!r} is invalid; accepted: a finite number > 0"
            raise ArtifactError(msg)


@dataclass(frozen=True)
class EnsembleManifest:
    """Everything the runtime needs to run and interpret a bundle.

    Validated on construction (export) and so on load: a known precision, and a file list whose
    paths stay inside the bundle, appear once, and include the ``.bin`` of every ``.xml``, so that
    every file OpenVINO reads is hash-checked first. Join rules and thresholds validate themselves.

    Raises:
        ArtifactError: Naming the field, the value received and what is accepted.
    """

    model: str
    backbone: str
    precision: str
    grid: TileGrid
    frames_per_call: int
    input: dict[str, Any]
    outputs: dict[str, Any]
    files: tuple[FileEntry, ...]
    join: JoinRules
    thresholds: Thresholds
    accuracy: dict[str, Any]
    sizes: dict[str, int]
    quantization: dict[str, Any]
    source: dict[str, Any]
    versions: dict[str, str]
    created_utc: str
    schema_version: int = SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_choice(self.precision, PRECISIONS, "precision")
        check_listed_files(((f"files[{i}].path", f.path) for i, f in enumerate(self.files)), "manifest")

    @property
    def xml(self) -> str:
        """Relative path of the IR's .xml file."""
        return next(f.path for f in self.files if f.path.endswith(".xml"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["grid"] = self.grid.to_dict()
        return {"schema_version": self.schema_version, **{k: v for k, v in data.items() if k != "schema_version"}}

    def save(self, folder: Path) -> None:
        """Write ``folder/manifest.json`` atomically."""
        write_json(folder / MANIFEST_NAME, self.to_dict())

    @classmethod
    def load(cls, folder: Path, *, verify: bool = True) -> EnsembleManifest:
        """Read a bundle's manifest and check its files.

        Args:
            folder: The bundle folder.
            verify: Check every listed file's SHA-256 (refuses altered bundles).

        Returns:
            The manifest.

        Raises:
            ArtifactError: Missing, corrupt, newer-schema or altered bundle.
        """
        folder = Path(folder)
        if not folder.is_dir():
            msg = f"bundle {folder} does not exist; create it with: edgekit export RUN --out {folder}"
            raise ArtifactError(msg)
        data = read_json(folder / MANIFEST_NAME, "bundle manifest")
        check_schema(data, SCHEMA_VERSION, "bundle manifest", folder / MANIFEST_NAME)
        try:
            manifest = cls(
                model=data["model"],
                backbone=data["backbone"],
                precision=data["precision"],
                grid=TileGrid.from_dict(data["grid"]),
                frames_per_call=int(data["frames_per_call"]),
                input=dict(data["input"]),
                outputs=dict(data["outputs"]),
                files=tuple(FileEntry(**f) for f in data["files"]),
                join=JoinRules(**data["join"]),
                thresholds=Thresholds(**data["thresholds"]),
                accuracy=dict(data["accuracy"]),
                sizes=dict(data["sizes"]),
                quantization=dict(data["quantization"]),
                source=dict(data["source"]),
                versions=dict(data["versions"]),
                created_utc=data["created_utc"],
                schema_version=data["schema_version"],
                extra=dict(data.get("extra", {})),
            )
        except (KeyError, TypeError, ValueError) as error:
            msg = f"bundle manifest {folder / MANIFEST_NAME} is incomplete or malformed ({error!r})"
            raise ArtifactError(msg) from error
        except (ArtifactError, ConfigError) as error:
            msg = f"bundle manifest {folder / MANIFEST_NAME}: {error}"
            raise ArtifactError(msg) from error
        if not any(f.path.endswith(".xml") for f in manifest.files):
            msg = f"bundle manifest {folder / MANIFEST_NAME} lists no .xml model file"
            raise ArtifactError(msg)
        if verify:
            for entry in manifest.files:
                verify_file(folder, entry.path, entry.sha256, "bundle")
        return manifest
