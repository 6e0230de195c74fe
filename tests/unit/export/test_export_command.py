"""``edgekit export`` as a user runs it: the accuracy table on success, one line on a bad run folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from edgekit.artifacts.manifest import EnsembleManifest


def _edgekit(*args: object) -> Result:
    from edgekit.cli.main import cli

    return CliRunner().invoke(cli, [str(a) for a in args])


def _one_error_line(result: Result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    return lines[0]


def test_export_prints_the_accuracy_table(tiny_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "fp16"
    result = _edgekit("export", tiny_run, "--out", out, "--precision", "fp16")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("accuracy on validation (test split")  # the run fitted thresholds on the test split
    header = lines[1].split()
    assert header == ["model", "image_auroc", "image_f1", "pixel_auroc", "pixel_aupro"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:] if line.split() and line.split()[0] in
            {"fp32", "fp16", "delta"}}
    assert set(rows) == {"fp32", "fp16", "delta"}
    assert all(len(v) == 4 for v in rows.values())
    assert f"wrote {out}" in result.stdout
    manifest = EnsembleManifest.load(out)
    assert manifest.precision == "fp16"
    # FP16 weights are checked as saved: the metrics are of the compressed model (tiny, not forced to 0)
    assert abs(manifest.accuracy["delta"]["pixel_aupro"]) < 0.01
    assert manifest.sizes["ir_bytes"] < 0.6 * manifest.sizes["fp32_graph_bytes"]


def test_altered_position_file_is_one_line_naming_it(run_copy: Path, tmp_path: Path) -> None:
    path = run_copy / "positions" / "p00.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    line = _one_error_line(_edgekit("export", run_copy, "--out", tmp_path / "b", "--precision", "fp32"))
    assert "positions/p00.safetensors" in line
    assert "altered" in line
    assert not (tmp_path / "b").exists()


def test_missing_run_is_one_line(tmp_path: Path) -> None:
    line = _one_error_line(_edgekit("export", tmp_path / "nope", "--out", tmp_path / "b"))
    assert "nope does not exist" in line


@pytest.mark.parametrize("remove", ["graph/frame.bin", "training.json"])
def test_incomplete_run_is_one_line(run_copy: Path, tmp_path: Path, remove: str) -> None:
    (run_copy / remove).unlink()
    line = _one_error_line(_edgekit("export", run_copy, "--out", tmp_path / "b"))
    assert Path(remove).name in line


def test_run_without_a_graph_is_one_line(run_copy: Path, tmp_path: Path) -> None:
    """A run written before training produced the graph: export says to re-train."""
    import json

    record = json.loads((run_copy / "training.json").read_text())
    record.pop("graph")
    record.pop("graph_files")
    (run_copy / "training.json").write_text(json.dumps(record))
    shutil.rmtree(run_copy / "graph")
    line = _one_error_line(_edgekit("export", run_copy, "--out", tmp_path / "b"))
    assert "no whole-frame graph" in line and "train it again" in line
