"""Write a trained ensemble to a run folder and read it back (safetensors + JSON, no pickles)."""

from __future__ import annotations

import platform
import time
from dataclasses import replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from edgekit import __version__
from edgekit._extras import require
from edgekit.artifacts.files import atomic_dir, sha256_file
from edgekit.artifacts.record import RECORD_NAME, FileEntry, Thresholds, TrainingRecord
from edgekit.errors import ArtifactError
from edgekit.train.config import TrainConfig
from edgekit.train.ensemble import TiledEnsemble
from edgekit.train.graph import write_graph

torch = require("torch", "train")
safetensors_torch = require("safetensors.torch", "train")

TRUNK_FILE = "trunk.safetensors"
SHARED_FILE = "shared.safetensors"


def package_versions() -> dict[str, str]:
    """Versions of the packages that shape a trained model."""
    versions = {"edgekit": __version__, "python": platform.python_version()}
    for name in ("torch", "anomalib", "timm", "numpy", "opencv-python-headless"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def _save(tensors: dict[str, Any], path: Path) -> FileEntry:
    clean = {k: v.detach().contiguous().clone() for k, v in tensors.items()}
    safetensors_torch.save_file(clean, str(path))
    return FileEntry(path="", sha256=sha256_file(path), bytes=path.stat().st_size)


def _is_constant(key: str) -> bool:
    """Buffers that are fixed by the model's options, not learned: the anomaly map's blur kernel.

    They are left out of position files because the whole-frame graph swaps anomalib's 2-D blur for
    the separable one (same result), which renames the buffers.
    """
    return ".blur." in f".{key}"


def position_state(ensemble: TiledEnsemble, p: int) -> dict[str, Any]:
    """A position's own state dict (its trunk keys and constant blur kernels left out)."""
    prefix = ensemble.family.trunk_prefix()
    return {
        k: v for k, v in ensemble.positions[p].state_dict().items() if not k.startswith(prefix) and not _is_constant(k)
    }


def check_out(out: Path) -> None:
    """Refuse an output folder that writing a run would destroy (the run replaces the whole folder).

    Accepted: a path that does not exist, an empty folder, or an earlier run folder (it holds
    ``training.json``).

    Args:
        out: The run folder to write.

    Raises:
        ArtifactError: If ``out`` is a file or a non-empty folder that is not a run.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / RECORD_NAME).is_file())):
        msg = (
            f"output {out} exists and is not an edgekit run folder (no {RECORD_NAME}): writing the run would "
            "replace it; accepted: a new or empty folder, or an earlier run"
        )
        raise ArtifactError(msg)


def save_run(
    ensemble: TiledEnsemble,
    config: TrainConfig,
    thresholds: Thresholds,
    *,
    backbone_source: str,
    data: dict[str, Any],
    timing: dict[str, float],
) -> TrainingRecord:
    """Write the run folder atomically: trunk, one file per position, then the record.

    Args:
        ensemble: The trained ensemble.
        config: Its configuration.
        thresholds: Validation statistics.
        backbone_source: Where the trunk's pretrained weights came from.
        data: Dataset facts for the record (paths, counts, skipped files).
        timing: Wall times and peak RSS.

    Returns:
        The record as written.
    """
    check_out(config.out)
    with atomic_dir(config.out) as tmp:
        (tmp / "positions").mkdir()
        trunk = replace(_save(ensemble.trunk.state_dict(), tmp / TRUNK_FILE), path=TRUNK_FILE)
        entries, state_bytes = [], []
        for p in range(ensemble.n_positions):
            rel = f"positions/p{p:02d}.safetensors"
            entries.append(replace(_save(position_state(ensemble, p), tmp / rel), path=rel))
            state_bytes.append(ensemble.family.state_bytes(ensemble.positions[p]))
        shared = None
        if ensemble.shared:
            shared = replace(_save(ensemble.shared, tmp / SHARED_FILE), path=SHARED_FILE)
        t_graph = time.perf_counter()
        graph = write_graph(ensemble, tmp / "graph", ensemble.join)
        timing = {**timing, "graph_s": round(time.perf_counter() - t_graph, 3)}
        graph_files = tuple(
            FileEntry(path=rel, sha256=sha256_file(tmp / rel), bytes=(tmp / rel).stat().st_size)
            for rel in (graph["xml"], graph["bin"])
        )
        record = TrainingRecord(
            model=config.model.value,
            backbone=config.backbone,
            backbone_source=backbone_source,
            grid=config.grid,
            score_rule=config.score_rule.value,
            options=config.model_options(),
            trunk=trunk,
            positions=tuple(entries),
            position_state_bytes=tuple(state_bytes),
            thresholds=thresholds,
            data=data,
            versions=package_versions(),
            timing=timing,
            created_utc=datetime.now(UTC).isoformat(timespec="seconds"),
            graph=graph,
            graph_files=graph_files,
            shared=shared,
        )
        record.save(tmp)
    return record


def config_from_record(record: TrainingRecord, run: Path) -> TrainConfig:
    """The training configuration a record was made with (paths point at the run)."""
    opts = record.options
    return TrainConfig(
        data=Path(record.data.get("root", ".")),
        out=run,
        model=record.model,
        image_size=tuple(record.grid.image_hw),
        tile_size=tuple(record.grid.tile_hw),
        stride=tuple(record.grid.stride_hw),
        backbone=record.backbone,
        layers=tuple(opts["layers"]),
        n_features=opts["n_features"],
        cov_reg=opts.get("cov_reg", 0.01),  # runs before the option: anomalib's 0.01
        cov_pool=opts.get("cov_pool", 0),
        padim_embedding=opts.get("padim_embedding", "subset"),
        coreset_ratio=opts["coreset_ratio"],
        num_neighbors=opts["num_neighbors"],
        epochs=opts["epochs"],
        batch_size=opts["batch_size"],
        lr=opts["lr"],
        seed=opts["seed"],
        weights=Path(opts["weights"]) if opts.get("weights") else None,
        val_split=opts.get("val_split", "same_as_test"),
        val_data=opts.get("val_data"),
        tiling=record.graph.get("join", {}).get("tiling", opts.get("tiling", "image")),  # as resolved
        val_ratio=opts.get("val_ratio", 0.2),
        normal_quantile=opts.get("normal_quantile", 0.99),
        score_rule=record.score_rule,
        join_weights=opts.get("join_weights", "uniform"),
        join_order=opts.get("join_order", "auto"),
        seam_width=opts.get("seam_width", 0),
        seam_sigma=opts.get("seam_sigma", 2.0),
        progress=False,
    )


def load_run(run: Path) -> tuple[TrainingRecord, TiledEnsemble]:
    """Rebuild a trained ensemble from its run folder (hashes checked).

    Args:
        run: The run folder.

    Returns:
        The record and the ensemble in eval mode.

    Raises:
        ArtifactError: Missing, altered or incompatible run.
    """
    run = Path(run)
    record = TrainingRecord.load(run)
    config = config_from_record(record, run)
    ensemble = TiledEnsemble.build(config, pretrained=False)
    ensemble.trunk.load_state_dict(safetensors_torch.load_file(str(run / record.trunk.path)))
    if record.shared is not None:
        ensemble.shared = safetensors_torch.load_file(str(run / record.shared.path))
    for p, entry in enumerate(record.positions):
        state = safetensors_torch.load_file(str(run / entry.path))
        result = ensemble.positions[p].load_state_dict(state, strict=False)
        prefix = ensemble.family.trunk_prefix()
        missing = [k for k in result.missing_keys if not k.startswith(prefix) and not _is_constant(k)]
        if missing or result.unexpected_keys:
            msg = (
                f"position file {entry.path} does not fit a {record.model} model: "
                f"missing {missing[:3]}, unexpected {result.unexpected_keys[:3]}"
            )
            raise ArtifactError(msg)
    if "join" not in record.graph:
        msg = f"run {run} was written by an earlier edgekit (no whole-frame graph); train it again"
        raise ArtifactError(msg)
    ensemble.join = dict(record.graph["join"])
    return record, ensemble.eval()
