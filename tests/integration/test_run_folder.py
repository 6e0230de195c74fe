"""The run folder ``edgekit train`` writes: its record, its files, and how evaluate guards it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from edgekit.artifacts.files import sha256_file
from edgekit.artifacts.record import SCHEMA_VERSION

pytest.importorskip("anomalib")
safetensors_torch = pytest.importorskip("safetensors.torch")

# What a run may hold: JSON, safetensors and the OpenVINO IR pair (XML + raw weights). No pickles.
ALLOWED_SUFFIXES = {".json", ".safetensors", ".xml", ".bin"}


@pytest.fixture
def run_copy(padim_run: Path, tmp_path: Path) -> Path:
    """A private copy of the session's run, free to alter."""
    return Path(shutil.copytree(padim_run, tmp_path / "run"))


def _record(run: Path) -> dict:
    return json.loads((run / "training.json").read_text())


def _one_error_line(result: Result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ")
    return lines[0]


def test_record_says_what_was_trained(padim_run: Path) -> None:
    record = _record(padim_run)
    assert record["schema_version"] == SCHEMA_VERSION
    assert record["model"] == "padim"
    assert record["backbone"] == "efficientnet_lite0"
    assert record["grid"] == {"image_hw": [128, 128], "tile_hw": [64, 64], "stride_hw": [64, 64]}
    assert [p["path"] for p in record["positions"]] == [f"positions/p{i:02d}.safetensors" for i in range(4)]
    # auto validation: no validation folder here, so held-out good training images and a normal quantile
    assert record["thresholds"]["method"] == "normal_quantile"
    assert record["data"]["val_split"] == "from_train" and record["data"]["val_split_asked"] == "auto"
    assert record["thresholds"]["image_min"] <= record["thresholds"]["image_threshold"]
    assert record["thresholds"]["image_threshold"] <= record["thresholds"]["image_max"]
    for name in ("edgekit", "torch", "anomalib", "timm", "python"):
        assert record["versions"][name]
    assert len(record["position_state_bytes"]) == 4
    assert all(isinstance(b, int) and b > 0 for b in record["position_state_bytes"])
    assert record["data"]["n_train"] + record["data"]["n_val"] == 8  # 2 of the 8 held out for thresholds


def test_every_file_is_listed_with_its_hash_and_none_is_a_pickle(padim_run: Path) -> None:
    record = _record(padim_run)
    listed = [record["trunk"], *record["positions"], *record.get("graph_files", [])]
    for entry in listed:
        path = padim_run / entry["path"]
        assert sha256_file(path) == entry["sha256"], entry["path"]
        assert path.stat().st_size == entry["bytes"]
    files = {p.relative_to(padim_run).as_posix() for p in padim_run.rglob("*") if p.is_file()}
    assert files == {"training.json", *(entry["path"] for entry in listed)}
    assert {Path(f).suffix for f in files} <= ALLOWED_SUFFIXES
    for f in files:
        if f.endswith(".safetensors"):
            assert safetensors_torch.load_file(str(padim_run / f))  # loads without unpickling anything
        if f.endswith(".bin"):  # raw IR weights, always next to their .xml
            assert (padim_run / f).with_suffix(".xml").is_file()


def test_position_files_hold_only_the_positions_own_state(padim_run: Path) -> None:
    state = safetensors_torch.load_file(str(padim_run / "positions/p00.safetensors"))
    assert {"idx", "gaussian.mean", "gaussian.inv_covariance"} <= set(state)
    assert not any(key.startswith("feature_extractor.") for key in state)  # the trunk is shared


def test_tampered_position_file_is_refused_by_name(
    run_copy: Path, known_data: Path, edgekit: Callable[[list[object]], Result]
) -> None:
    target = run_copy / "positions/p01.safetensors"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    line = _one_error_line(edgekit(["evaluate", run_copy, "--data", known_data, "--no-progress"]))
    assert "positions/p01.safetensors" in line and "altered" in line


def test_missing_position_file_is_refused_by_name(
    run_copy: Path, known_data: Path, edgekit: Callable[[list[object]], Result]
) -> None:
    (run_copy / "positions/p03.safetensors").unlink()
    line = _one_error_line(edgekit(["evaluate", run_copy, "--data", known_data, "--no-progress"]))
    assert "positions/p03.safetensors" in line and "missing" in line


def test_newer_schema_is_refused_with_both_versions(
    run_copy: Path, known_data: Path, edgekit: Callable[[list[object]], Result]
) -> None:
    record = _record(run_copy)
    record["schema_version"] = SCHEMA_VERSION + 1
    (run_copy / "training.json").write_text(json.dumps(record))
    line = _one_error_line(edgekit(["evaluate", run_copy, "--data", known_data, "--no-progress"]))
    assert f"schema_version {SCHEMA_VERSION + 1}" in line
    assert f"newer than the {SCHEMA_VERSION}" in line


def test_missing_run_folder_is_one_line(tmp_path: Path, known_data: Path, edgekit: Callable) -> None:
    line = _one_error_line(edgekit(["evaluate", tmp_path / "nope", "--data", known_data]))
    assert "does not exist" in line and "edgekit train" in line


def test_train_refuses_to_replace_a_folder_that_is_not_a_run(
    run_copy: Path, known_data: Path, tmp_path: Path, edgekit: Callable[[list[object]], Result]
) -> None:
    # a folder that is not a run (here: the dataset itself) must never be replaced by a run
    line = _one_error_line(edgekit(["train", "--data", known_data, "--out", known_data, "--no-progress"]))
    assert "not an edgekit run folder" in line
    assert (known_data / "train" / "good").is_dir()
    stray = tmp_path / "notes"
    stray.mkdir()
    (stray / "keep.txt").write_text("mine")
    _one_error_line(edgekit(["train", "--data", known_data, "--out", stray, "--no-progress"]))
    assert (stray / "keep.txt").read_text() == "mine"
