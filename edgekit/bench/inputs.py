"""What the benchmark modes run on: the bundle, its FP32 twin, the run, per-position IRs and the frames.

Everything the bench builds goes under its ``--work`` folder, keyed by the training record's
SHA-256 where it derives from a run, so a second bench of another bundle never reuses a stale
FP32 bundle or position IR, and the user's run folder is never written to.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from edgekit.artifacts.files import sha256_file
from edgekit.artifacts.manifest import EnsembleManifest
from edgekit.artifacts.record import TrainingRecord
from edgekit.bench.frames import StoredFrames, store_frames
from edgekit.errors import ArtifactError, ConfigError

logger = logging.getLogger(__name__)

#: Modes that need the training run (``edgekit_fp32`` only when the bundle is not FP32 itself).
RUN_MODES = ("naive", "anomalib")
RECORD_NAME = "training.json"


@dataclass(frozen=True)
class BenchInputs:
    """What the modes run on.

    Attributes:
        bundle: The bundle under test.
        frames: The stored frames every mode measures.
        fp32_bundle: The same ensemble unquantized (None when no mode needs it).
        run: The training run (None when no mode needs it).
        positions: Folder of per-position FP32 IRs ``pNN.xml`` for the naive mode (None when not run).
    """

    bundle: Path
    frames: StoredFrames
    fp32_bundle: Path | None = None
    run: Path | None = None
    positions: Path | None = None


def demo_bundle(work: Path, progress: bool) -> Path:
    """Build (or find) the demo's INT8 bundle in ``work``: demo data, a 3x3 PaDiM run, INT8 export."""
    from edgekit.artifacts.record import TrainingRecord
    from edgekit.demo import generate_demo_data
    from edgekit.export.bundle import export_bundle
    from edgekit.train.config import TrainConfig
    from edgekit.train.fit import train

    data_root = work / "data"
    if not (data_root / "demo.json").is_file():
        generate_demo_data(data_root, size=512, categories=["coffee"], progress=progress)
    run = work / "run"
    if not (run / RECORD_NAME).is_file():
        train(TrainConfig(data=data_root / "coffee", out=run, progress=progress))
    bundle = work / "bundle_int8"
    if not (bundle / "manifest.json").is_file():
        # calibrated on every training frame, as ``edgekit demo`` does
        n_train = TrainingRecord.load(run).data["n_train"]
        export_bundle(run, bundle, precision="int8", calib_size=n_train)
    return bundle


def demo_video(manifest: EnsembleManifest) -> Path | None:
    """The demo video next to the bundle's training data, if ``edgekit demo-data`` made that data."""
    data = manifest.source.get("data")
    sidecar = Path(data) / "stream.json" if data else None
    if sidecar is None or not sidecar.is_file():
        return None
    try:
        video = sidecar.parent / json.loads(sidecar.read_text())["video"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return video if video.is_file() else None


def resolve_source(source: str | None, bundle: Path, manifest: EnsembleManifest) -> str:
    """The ``--source`` given, else the demo video next to the bundle's data.

    Raises:
        ConfigError: No source given and no demo video to fall back on.
    """
    if source is not None:
        return source
    video = demo_video(manifest)
    if video is None:
        data = manifest.source.get("data") or "unknown"
        msg = (
            f"no --source given and no demo video next to the data of bundle {bundle} ({data}); "
            "pass --source VIDEO, an image folder, or a camera index"
        )
        raise ConfigError(msg)
    return str(video)


def needs_run(manifest: EnsembleManifest, modes: tuple[str, ...]) -> bool:
    """Whether any of the modes needs the training run."""
    return any(m in RUN_MODES or (m == "edgekit_fp32" and manifest.precision != "fp32") for m in modes)


def training_run(bundle: Path, manifest: EnsembleManifest, modes: tuple[str, ...]) -> Path:
    """The run the bundle was exported from, checked to exist.

    Raises:
        ArtifactError: The run is gone.
        ConfigError: A per-tile mode was asked of a run whose state is per frame location.
    """
    run = Path(manifest.source.get("run") or "")
    if not (run / RECORD_NAME).is_file():
        needing = [m for m in modes if needs_run(manifest, (m,))]
        msg = (
            f"bundle {bundle} was exported from run {run}, which no longer exists; modes {', '.join(needing)} "
            "need it; accepted: the run at that path, or --modes bound,edgekit,edgekit_predecoded"
        )
        raise ArtifactError(msg)
    per_tile = [m for m in modes if m in RUN_MODES]
    if per_tile and TrainingRecord.load(run, verify=False).shared is not None:
        msg = (
            f"run {run} fits PaDiM once per frame location (--tiling features), so its positions hold no "
            f"model of their own and modes {', '.join(per_tile)} (one model per tile) cannot be built from it; "
            "accepted: --modes bound,edgekit,edgekit_predecoded,edgekit_fp32"
        )
        raise ConfigError(msg)
    recorded = manifest.source.get("record_sha256")
    if recorded and sha256_file(run / RECORD_NAME) != recorded:
        logger.warning(
            "run %s changed since bundle %s was exported: its modes measure the run as it is now", run, bundle
        )
    return run


def fp32_twin(bundle: Path, manifest: EnsembleManifest, run: Path | None, work: Path) -> Path:
    """The bundle itself when it is FP32, else an FP32 export of its run (made once per run state)."""
    if manifest.precision == "fp32" or run is None:
        return bundle
    from edgekit.export.bundle import export_bundle

    out = work / "fp32" / sha256_file(run / RECORD_NAME)[:12]
    if not (out / "manifest.json").is_file():
        data = manifest.source.get("data")
        export_bundle(run, out, precision="fp32", data=Path(data) if data and Path(data).is_dir() else None)
    return out


def position_graphs(run: Path, n_positions: int, work: Path) -> Path:
    """The run's positions as one FP32 IR each (``pNN.xml``), written once per run state."""
    folder = work / "positions" / sha256_file(run / RECORD_NAME)[:12]
    if not (folder / f"p{n_positions - 1:02d}.xml").is_file():
        from edgekit.train.graph import write_position_graphs
        from edgekit.train.run_io import load_run

        _, ensemble = load_run(run)
        write_position_graphs(ensemble, folder)
    return folder


def prepare(
    bundle: Path | None,
    work: Path,
    *,
    source: str | None,
    modes: tuple[str, ...],
    count: int,
    progress: bool,
) -> BenchInputs:
    """Find or build what the modes need, and store the frames they all measure.

    Cheap checks come first (bundle, source, run), so bad input fails before anything is built.

    Args:
        bundle: The bundle under test, or None to build one from the demo data.
        work: Folder for what the benchmark builds.
        source: Video file, image folder, camera or stream; None for the demo video.
        modes: The modes that will run.
        count: Frames to store (warm-up + measured).
        progress: Show progress bars while building the demo.

    Returns:
        The inputs.
    """
    work.mkdir(parents=True, exist_ok=True)
    if bundle is None:
        bundle = demo_bundle(work, progress)
    manifest = EnsembleManifest.load(bundle)
    source = resolve_source(source, bundle, manifest)
    run = training_run(bundle, manifest, modes) if needs_run(manifest, modes) else None
    frames = store_frames(source, manifest.grid.image_hw, count, work / "frames")
    fp32 = fp32_twin(bundle, manifest, run, work) if "edgekit_fp32" in modes else None
    positions = position_graphs(run, manifest.grid.n_tiles, work) if run is not None and "naive" in modes else None
    return BenchInputs(bundle=bundle, frames=frames, fp32_bundle=fp32, run=run, positions=positions)
