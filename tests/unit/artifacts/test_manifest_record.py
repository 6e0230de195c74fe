"""The bundle manifest and the training record: round trips, and every way a folder is refused."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from edgekit.artifacts.files import sha256_file
from edgekit.artifacts.manifest import MANIFEST_NAME, EnsembleManifest, JoinRules
from edgekit.artifacts.record import RECORD_NAME, FileEntry, Thresholds, TrainingRecord
from edgekit.errors import ArtifactError
from edgekit.tiling import TileGrid

GRID = TileGrid(128, 64, 32)
THRESHOLDS = Thresholds(1.0, 2.0, 0.5, 3.0, 0.1, 3.5, "f1_adaptive", "test")


def _entry(folder: Path, rel: str, content: bytes) -> FileEntry:
    path = folder / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return FileEntry(path=rel, sha256=sha256_file(path), bytes=len(content))


def _bundle(folder: Path) -> EnsembleManifest:
    folder.mkdir()
    files = (_entry(folder, "ensemble.xml", b"<net/>"), _entry(folder, "ensemble.bin", bytes(64)))
    manifest = EnsembleManifest(
        model="padim",
        backbone="efficientnet_lite0",
        precision="int8",
        grid=GRID,
        frames_per_call=1,
        input={"name": "tiles", "shape": [9, 64, 64, 3], "dtype": "u8", "layout": "NHWC", "color": "BGR"},
        outputs={"maps": [9, 1, 64, 64], "scores": [9]},
        files=files,
        join=JoinRules(score_rule="max"),
        thresholds=THRESHOLDS,
        accuracy={"delta": {"image_auroc": 0.0}},
        sizes={"ir_bytes": 70},
        quantization={"method": "nncf.quantize"},
        source={"run": "r"},
        versions={"edgekit": "0"},
        created_utc="2026-01-01T00:00:00+00:00",
    )
    manifest.save(folder)
    return manifest


def _record(run: Path) -> TrainingRecord:
    run.mkdir()
    record = TrainingRecord(
        model="padim",
        backbone="efficientnet_lite0",
        backbone_source="test",
        grid=GRID,
        score_rule="max",
        options={},
        trunk=_entry(run, "trunk.safetensors", b"trunk"),
        positions=tuple(_entry(run, f"positions/p{p:02d}.safetensors", bytes([p])) for p in range(GRID.n_tiles)),
        position_state_bytes=(1,) * GRID.n_tiles,
        thresholds=THRESHOLDS,
        data={"root": "d"},
        versions={"edgekit": "0"},
        timing={},
        created_utc="2026-01-01T00:00:00+00:00",
        graph={"xml": "graph/ensemble.xml"},
        graph_files=(_entry(run, "graph/ensemble.xml", b"<net/>"), _entry(run, "graph/ensemble.bin", b"w")),
    )
    record.save(run)
    return record


def _edit(path: Path, **changes: object) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def _flip_byte(path: Path, at: int = 0) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def test_manifest_round_trip(tmp_path: Path) -> None:
    manifest = _bundle(tmp_path / "b")
    loaded = EnsembleManifest.load(tmp_path / "b")
    assert loaded == manifest
    assert loaded.xml == "ensemble.xml"
    assert json.loads((tmp_path / "b" / MANIFEST_NAME).read_text())["schema_version"] == 1


def test_manifest_refuses_an_altered_file_naming_it(tmp_path: Path) -> None:
    _bundle(tmp_path / "b")
    _flip_byte(tmp_path / "b" / "ensemble.bin", 10)
    with pytest.raises(ArtifactError, match=r"altered: ensemble\.bin"):
        EnsembleManifest.load(tmp_path / "b")
    assert EnsembleManifest.load(tmp_path / "b", verify=False).precision == "int8"


def test_manifest_refuses_a_newer_schema_with_both_versions(tmp_path: Path) -> None:
    _bundle(tmp_path / "b")
    _edit(tmp_path / "b" / MANIFEST_NAME, schema_version=99)
    with pytest.raises(ArtifactError, match=r"schema_version 99, newer than the 1 this edgekit reads"):
        EnsembleManifest.load(tmp_path / "b")


def test_manifest_incomplete_or_missing(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="does not exist; create it with: edgekit export"):
        EnsembleManifest.load(tmp_path / "nothing")
    _bundle(tmp_path / "b")
    data = json.loads((tmp_path / "b" / MANIFEST_NAME).read_text())
    del data["thresholds"]
    (tmp_path / "b" / MANIFEST_NAME).write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match=r"incomplete or malformed.*thresholds"):
        EnsembleManifest.load(tmp_path / "b")
    (tmp_path / "b" / MANIFEST_NAME).unlink()
    with pytest.raises(ArtifactError, match="bundle manifest not found"):
        EnsembleManifest.load(tmp_path / "b")


def test_manifest_without_xml_is_refused(tmp_path: Path) -> None:
    manifest = _bundle(tmp_path / "b")
    replace(manifest, files=manifest.files[1:]).save(tmp_path / "b")
    with pytest.raises(ArtifactError, match=r"lists no \.xml"):
        EnsembleManifest.load(tmp_path / "b")


def test_record_round_trip_and_refusals(tmp_path: Path) -> None:
    record = _record(tmp_path / "run")
    assert TrainingRecord.load(tmp_path / "run") == record
    _flip_byte(tmp_path / "run" / "positions" / "p04.safetensors")
    with pytest.raises(ArtifactError, match=r"altered: positions/p04\.safetensors"):
        TrainingRecord.load(tmp_path / "run")
    (tmp_path / "run" / "positions" / "p04.safetensors").unlink()
    with pytest.raises(ArtifactError, match=r"incomplete: positions/p04\.safetensors is missing"):
        TrainingRecord.load(tmp_path / "run")


def test_record_newer_schema_and_wrong_position_count(tmp_path: Path) -> None:
    record = _record(tmp_path / "run")
    replace(record, positions=record.positions[:3]).save(tmp_path / "run")
    with pytest.raises(ArtifactError, match="lists 3 position files, the grid has 9"):
        TrainingRecord.load(tmp_path / "run")
    _edit(tmp_path / "run" / RECORD_NAME, schema_version=99)
    with pytest.raises(ArtifactError, match=r"schema_version 99, newer than the 1"):
        TrainingRecord.load(tmp_path / "run")
