"""``edgekit evaluate`` on a target that is neither a run nor a bundle: ONE clear line, exit 1."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from click.testing import Result

Edgekit = Callable[[list[object]], Result]


def test_missing_target(edgekit: Edgekit, refused: Callable, tmp_path: Path) -> None:
    line = refused(edgekit(["evaluate", tmp_path / "nope", "--data", tmp_path]))
    assert f"{tmp_path / 'nope'} does not exist" in line and "a run" in line and "a bundle" in line


def test_file_target(edgekit: Edgekit, refused: Callable, tmp_path: Path) -> None:
    (tmp_path / "model.xml").write_text("<net/>")
    line = refused(edgekit(["evaluate", tmp_path / "model.xml", "--data", tmp_path]))
    assert f"{tmp_path / 'model.xml'} is not a folder" in line and "edgekit export --out" in line


def test_folder_without_record_or_manifest(edgekit: Edgekit, refused: Callable, tmp_path: Path) -> None:
    folder = tmp_path / "copied"
    folder.mkdir()
    (folder / "model.xml").write_text("<net/>")  # a bundle copied without its manifest
    line = refused(edgekit(["evaluate", folder, "--data", tmp_path]))
    assert f"{folder} is neither a run nor a bundle" in line
    assert "training.json" in line and "manifest.json" in line
