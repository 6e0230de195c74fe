"""``edgekit run`` through the real CLI group: --json report, one-line errors, exit codes."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgekit.cli.main import cli


def _runtime_kit():
    """The fake bundle and frame helpers of ``tests/unit/runtime/conftest.py`` (loaded by path)."""
    path = Path(__file__).resolve().parents[1] / "runtime" / "conftest.py"
    spec = importlib.util.spec_from_file_location("edgekit_tests_runtime_kit", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


kit = _runtime_kit()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return kit.write_bundle(tmp_path_factory.mktemp("bundle") / "bundle")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return kit.write_folder(tmp_path_factory.mktemp("frames") / "frames", kit.sequence(6))


def invoke(*args):
    return CliRunner().invoke(cli, ["run", *map(str, args)])


def test_json_prints_the_report_on_stdout(bundle, folder, tmp_path):
    out = tmp_path / "out"
    result = invoke(bundle, "--source", folder, "--out", out, "--json", "--jobs", "2")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report == json.loads((out / "report.json").read_text())
    lines = kit.read_lines(out / "results.jsonl")
    assert report["frames"] == len(lines) == 6 and report["anomalous"] == 2
    assert report["stopped_by"] == "end" and report["jobs"] == 2


def test_the_summary_line_names_frames_device_and_files(bundle, folder, tmp_path):
    result = invoke(bundle, "--source", folder, "--out", tmp_path / "out", "--max-frames", "4", "--overlays")
    assert result.exit_code == 0, result.output
    assert "4 frames (1 anomalous) on CPU [fp32]" in result.stdout and "stopped by max_frames" in result.stdout
    assert str(tmp_path / "out" / "results.jsonl") in result.stdout
    assert [p.name for p in (tmp_path / "out" / "overlays").iterdir()] == ["frame_000001.png"]


@pytest.fixture
def refused_with(refused):
    """Check that a command was refused with one ``error:`` line holding every fragment."""

    def check(result, *fragments):
        line = refused(result)
        for fragment in fragments:
            assert fragment in line, line

    return check


def test_a_tampered_bundle_exits_1_naming_the_file(refused_with, bundle, folder, tmp_path):
    import shutil

    copy = Path(shutil.copytree(bundle, tmp_path / "bundle"))
    weights = copy / "ensemble.bin"
    data = bytearray(weights.read_bytes())
    data[0] ^= 0x01
    weights.write_bytes(bytes(data))
    refused_with(invoke(copy, "--source", folder, "--out", tmp_path / "out"), "ensemble.bin", "altered")
    assert not (tmp_path / "out").exists()


def test_an_unknown_device_exits_1_listing_the_available_ones(refused_with, bundle, folder):
    refused_with(invoke(bundle, "--source", folder, "--device", "NPU"), "'NPU'", "available: CPU")


def test_a_missing_bundle_exits_1(refused_with, folder, tmp_path):
    refused_with(invoke(tmp_path / "nowhere", "--source", folder), "does not exist", "edgekit export")


def test_a_missing_source_exits_1(refused_with, bundle, tmp_path):
    refused_with(invoke(bundle, "--source", tmp_path / "nothing"), "not found", "accepted:")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--overlays"], "--overlays needs --out"),
        (["--max-frames", "0"], "--max-frames 0"),
        (["--warmup", "-1"], "warmup -1"),
    ],
)
def test_inconsistent_options_exit_1(refused_with, bundle, folder, args, fragment):
    refused_with(invoke(bundle, "--source", folder, *args), fragment)


def test_strict_refuses_frames_of_another_size(refused_with, bundle, tmp_path):
    import cv2

    big = kit.write_folder(tmp_path / "big", [cv2.resize(f, (80, 80)) for f in kit.sequence(2)])
    refused_with(invoke(bundle, "--source", big, "--strict"), "80x80", "--strict")
