"""The bundle manifest and the training record: round trips, and every way a folder is refused."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

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


# --- validation on load: what a hand-edited or hostile manifest or record cannot smuggle in ---------------------


def _rewrite(path: Path, change: Callable[[dict[str, Any]], object]) -> None:
    """Edit a manifest or record by hand, as JSON (NaN, Infinity and null are written as such)."""
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _refusal(folder: Path, loader: Callable[..., object] = EnsembleManifest.load, name: str = MANIFEST_NAME) -> str:
    """Load (without hashing, so the check must come from the fields) and return the one-line refusal."""
    with pytest.raises(ArtifactError) as info:
        loader(folder, verify=False)
    text = str(info.value)
    assert "\n" not in text
    assert str(folder / name) in text, "the refusal names the file it came from"
    return text


def _set(section: str, key: str, value: object) -> Callable[[dict[str, Any]], object]:
    return lambda data: data[section].__setitem__(key, value)


def _set_path(index: int, value: str) -> Callable[[dict[str, Any]], object]:
    return lambda data: data["files"][index].__setitem__("path", value)


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("../ensemble.bin", "'..' part"),
        ("sub/../../ensemble.bin", "'..' part"),
        ("..\\ensemble.bin", "'..' part"),
        ("/etc/ensemble.bin", "is absolute"),
        ("\\\\server\\share\\ensemble.bin", "is absolute"),
        ("C:\\bundle\\ensemble.bin", "drive letter"),
        ("C:ensemble.bin", "drive letter"),
        ("sub\\ensemble.bin", "uses '\\' as a separator"),
        ("./ensemble.bin", "'.' part"),
    ],
)
def test_manifest_refuses_a_path_that_leaves_the_folder(tmp_path: Path, path: str, reason: str) -> None:
    _bundle(tmp_path / "b")
    _rewrite(tmp_path / "b" / MANIFEST_NAME, _set_path(1, path))
    text = _refusal(tmp_path / "b")
    assert f"files[1].path {path!r}" in text
    assert reason in text
    assert "accepted: a relative path inside the folder" in text


def test_manifest_refuses_an_xml_without_its_bin(tmp_path: Path) -> None:
    _bundle(tmp_path / "b")
    _rewrite(tmp_path / "b" / MANIFEST_NAME, lambda data: data["files"].pop(1))
    text = _refusal(tmp_path / "b")
    assert "manifest lists ensemble.xml (files[0].path) but not ensemble.bin" in text
    assert "every file the model needs must be listed" in text


def test_manifest_refuses_a_bin_of_another_folder(tmp_path: Path) -> None:
    _bundle(tmp_path / "b")
    _rewrite(tmp_path / "b" / MANIFEST_NAME, _set_path(0, "ir/ensemble.xml"))
    assert "lists ir/ensemble.xml (files[0].path) but not ir/ensemble.bin" in _refusal(tmp_path / "b")


def test_manifest_refuses_a_path_listed_twice(tmp_path: Path) -> None:
    _bundle(tmp_path / "b")
    _rewrite(tmp_path / "b" / MANIFEST_NAME, lambda data: data["files"].append(dict(data["files"][1])))
    text = _refusal(tmp_path / "b")
    assert "files[2].path 'ensemble.bin' is already listed as files[1].path" in text
    assert "accepted: each file listed once" in text


@pytest.mark.parametrize(("value", "shown"), [(math.nan, "nan"), (None, "None"), (math.inf, "inf"), ("1.0", "'1.0'")])
def test_manifest_refuses_a_threshold_that_is_not_a_finite_number(tmp_path: Path, value: object, shown: str) -> None:
    _bundle(tmp_path / "b")
    _rewrite(tmp_path / "b" / MANIFEST_NAME, _set("thresholds", "image_min", value))
    if value is math.nan:
        assert "NaN" in (tmp_path / "b" / MANIFEST_NAME).read_text(), "the token a hand edit would leave"
    text = _refusal(tmp_path / "b")
    assert f"thresholds.image_min {shown} is not a finite number" in text
    assert "accepted: a finite int or float" in text


@pytest.mark.parametrize("kind", ["image", "pixel"])
def test_manifest_refuses_a_minimum_above_its_maximum(tmp_path: Path, kind: str) -> None:
    _bundle(tmp_path / "b")
    _rewrite(tmp_path / "b" / MANIFEST_NAME, _set("thresholds", f"{kind}_min", 9.5))
    text = _refusal(tmp_path / "b")
    assert f"thresholds.{kind}_min 9.5 is greater than thresholds.{kind}_max" in text
    assert f"accepted: {kind}_min <= {kind}_max" in text


@pytest.mark.parametrize(
    ("change", "field", "value", "accepted"),
    [
        (lambda data: data.__setitem__("precision", "int4"), "precision", "'int4'", "'int8', 'fp16', 'fp32'"),
        (
            _set("join", "score_rule", "median"),
            "join.score_rule",
            "'median'",
            "'max', 'mean_of_tile_max', 'z_coverage'",
        ),
        (_set("join", "weights", "gauss"), "join.weights", "'gauss'", "'uniform', 'taper'"),
        (_set("join", "order", "pixel"), "join.order", "'pixel'", "'frame', 'tile'"),
        (_set("thresholds", "method", "otsu"), "thresholds.method", "'otsu'", "'f1_adaptive', 'normal_quantile'"),
    ],
)
def test_manifest_refuses_an_unknown_name(
    tmp_path: Path, change: Callable[[dict[str, Any]], object], field: str, value: str, accepted: str
) -> None:
    _bundle(tmp_path / "b")
    _rewrite(tmp_path / "b" / MANIFEST_NAME, change)
    text = _refusal(tmp_path / "b")
    assert f"{field} {value} is not known; accepted: {accepted}" in text


@pytest.mark.parametrize(
    ("key", "value", "shown", "accepted"),
    [
        ("seam_width", -1, "-1", "an int >= 0"),
        ("seam_width", 1.5, "1.5", "an int >= 0"),
        ("seam_width", True, "True", "an int >= 0"),
        ("seam_sigma", 0.0, "0.0", "a finite number > 0"),
        ("seam_sigma", -2.0, "-2.0", "a finite number > 0"),
        ("seam_sigma", math.nan, "nan", "a finite int or float"),
    ],
)
def test_manifest_refuses_a_bad_seam(tmp_path: Path, key: str, value: object, shown: str, accepted: str) -> None:
    _bundle(tmp_path / "b")
    _rewrite(tmp_path / "b" / MANIFEST_NAME, _set("join", key, value))
    text = _refusal(tmp_path / "b")
    assert f"join.{key} {shown}" in text
    assert f"accepted: {accepted}" in text


def test_manifest_join_order_round_trips_and_defaults_to_tile(tmp_path: Path) -> None:
    manifest = _bundle(tmp_path / "b")
    assert manifest.join.order == "tile"
    framed = replace(manifest, join=JoinRules(score_rule="mean_of_tile_max", weights="taper", order="frame"))
    framed.save(tmp_path / "b")
    assert json.loads((tmp_path / "b" / MANIFEST_NAME).read_text())["join"]["order"] == "frame"
    assert EnsembleManifest.load(tmp_path / "b") == framed
    _rewrite(tmp_path / "b" / MANIFEST_NAME, lambda data: data["join"].pop("order"))  # written before the field
    assert EnsembleManifest.load(tmp_path / "b").join == replace(framed.join, order="tile")


def test_construction_is_checked_too(tmp_path: Path) -> None:
    """Export builds these in code: the same rules apply there, without a file to name."""
    manifest = _bundle(tmp_path / "b")
    with pytest.raises(ArtifactError, match=r"^join\.order 'frames' is not known; accepted: 'frame', 'tile'$"):
        JoinRules(order="frames")
    with pytest.raises(ArtifactError, match=r"^thresholds\.pixel_max nan is not a finite number"):
        replace(THRESHOLDS, pixel_max=math.nan)
    with pytest.raises(ArtifactError, match=r"^precision 'FP16' is not known"):
        replace(manifest, precision="FP16")
    with pytest.raises(ArtifactError, match=r"lists ensemble\.xml \(files\[0\]\.path\) but not ensemble\.bin"):
        replace(manifest, files=manifest.files[:1])
    with pytest.raises(ArtifactError, match=r"^files\[1\]\.path '/tmp/ensemble\.bin' is absolute"):
        replace(manifest, files=(manifest.files[0], replace(manifest.files[1], path="/tmp/ensemble.bin")))


def test_record_refuses_paths_outside_the_run_and_duplicates(tmp_path: Path) -> None:
    _record(tmp_path / "run")
    path = tmp_path / "run" / RECORD_NAME
    _rewrite(path, lambda data: data["positions"][4].__setitem__("path", "../p04.safetensors"))
    text = _refusal(tmp_path / "run", TrainingRecord.load, RECORD_NAME)
    assert "positions[4].path '../p04.safetensors' has a '..' part" in text
    _rewrite(path, lambda data: data["positions"][4].__setitem__("path", "trunk.safetensors"))
    text = _refusal(tmp_path / "run", TrainingRecord.load, RECORD_NAME)
    assert "positions[4].path 'trunk.safetensors' is already listed as trunk.path" in text


def test_record_refuses_an_unlisted_graph_or_an_xml_without_its_bin(tmp_path: Path) -> None:
    _record(tmp_path / "run")
    path = tmp_path / "run" / RECORD_NAME
    _rewrite(path, lambda data: data["graph"].__setitem__("xml", "/elsewhere/ensemble.xml"))
    text = _refusal(tmp_path / "run", TrainingRecord.load, RECORD_NAME)
    assert "graph.xml '/elsewhere/ensemble.xml' is absolute" in text
    _rewrite(path, lambda data: data["graph"].__setitem__("xml", "trunk.safetensors"))
    text = _refusal(tmp_path / "run", TrainingRecord.load, RECORD_NAME)
    assert "graph.xml 'trunk.safetensors' is not among graph_files; accepted: a path listed in graph_files" in text
    _rewrite(path, lambda data: (data["graph"].__setitem__("xml", "graph/ensemble.xml"), data["graph_files"].pop(1)))
    text = _refusal(tmp_path / "run", TrainingRecord.load, RECORD_NAME)
    assert "training record lists graph/ensemble.xml (graph_files[0].path) but not graph/ensemble.bin" in text


def test_record_refuses_a_nan_threshold_naming_the_record(tmp_path: Path) -> None:
    _record(tmp_path / "run")
    _rewrite(tmp_path / "run" / RECORD_NAME, _set("thresholds", "pixel_threshold", math.nan))
    text = _refusal(tmp_path / "run", TrainingRecord.load, RECORD_NAME)
    assert "thresholds.pixel_threshold nan is not a finite number" in text


@pytest.mark.parametrize(
    ("rule", "value", "said"),
    [
        ("max", 3.0, "join.z_reference 3.0 is invalid; accepted: a list of [median, MAD] pairs"),
        ("max", [[1.0]], "join.z_reference [[1.0]] is invalid; accepted: a list of [median, MAD] pairs"),
        ("max", [[1.0, "x"]], "join.z_reference[0][1] 'x' is not a finite number"),
        ("max", [[1.0, 0.5], [2.0, -0.1]], "join.z_reference[1] MAD -0.1 is invalid; accepted: a finite number >= 0"),
        ("z_coverage", [], "join.z_reference is empty; accepted for score rule z_coverage"),
    ],
)
def test_manifest_refuses_a_bad_z_reference(tmp_path: Path, rule: str, value: object, said: str) -> None:
    _bundle(tmp_path / "b")

    def change(data: dict[str, Any]) -> None:
        data["join"]["score_rule"] = rule
        data["join"]["z_reference"] = value

    _rewrite(tmp_path / "b" / MANIFEST_NAME, change)
    assert said in _refusal(tmp_path / "b")


def test_manifest_keeps_a_z_reference(tmp_path: Path) -> None:
    _bundle(tmp_path / "b")

    def change(data: dict[str, Any]) -> None:
        data["join"]["score_rule"] = "z_coverage"
        data["join"]["z_reference"] = [[10.5, 1.25], [9.0, 0.75]]

    _rewrite(tmp_path / "b" / MANIFEST_NAME, change)
    manifest = EnsembleManifest.load(tmp_path / "b", verify=False)
    assert manifest.join.z_reference == ((10.5, 1.25), (9.0, 0.75))
    assert json.loads(json.dumps(manifest.to_dict()))["join"]["z_reference"] == [[10.5, 1.25], [9.0, 0.75]]
