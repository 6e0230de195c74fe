"""What export refuses, and what an interrupted export leaves behind (nothing that looks whole)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edgekit.artifacts.manifest import MANIFEST_NAME, EnsembleManifest
from edgekit.errors import ArtifactError, ConfigError


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.fixture
def bundle_copy(fp32_bundle: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(fp32_bundle, tmp_path / "bundle"))


def test_altered_weights_are_refused_naming_the_file(bundle_copy: Path) -> None:
    EnsembleManifest.load(bundle_copy)
    _flip_byte(bundle_copy / "ensemble.bin")
    with pytest.raises(ArtifactError, match=r"was altered: ensemble\.bin has sha256") as info:
        EnsembleManifest.load(bundle_copy)
    assert "\n" not in str(info.value)


def test_runtime_refuses_an_altered_bundle(bundle_copy: Path) -> None:
    from edgekit.runtime.engine import Engine

    _flip_byte(bundle_copy / "ensemble.xml")
    with pytest.raises(ArtifactError, match=r"ensemble\.xml"):
        Engine(bundle_copy)


def test_newer_manifest_schema_is_refused_with_both_versions(bundle_copy: Path) -> None:
    path = bundle_copy / MANIFEST_NAME
    data = json.loads(path.read_text())
    data["schema_version"] = 99
    path.write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match=r"schema_version 99, newer than the 1 this edgekit reads"):
        EnsembleManifest.load(bundle_copy)


@pytest.mark.parametrize("precision", ["int4", "FP16", ""])
def test_unknown_precision_lists_the_valid_ones(tiny_run: Path, tmp_path: Path, precision: str) -> None:
    from edgekit.export.bundle import export_bundle

    with pytest.raises(ConfigError, match=r"accepted: int8, fp16, fp32"):
        export_bundle(tiny_run, tmp_path / "b", precision=precision)
    assert not (tmp_path / "b").exists()


def test_max_drop_needs_int8(tiny_run: Path, tmp_path: Path) -> None:
    from edgekit.export.bundle import export_bundle

    with pytest.raises(ConfigError, match="int8 and fp16 only"):
        export_bundle(tiny_run, tmp_path / "b", precision="fp32", max_drop=0.01)


def test_interrupted_export_leaves_no_bundle(
    tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The manifest write fails after the IR is on disk: neither a bundle nor a partial folder remains."""
    from edgekit.export.bundle import export_bundle

    written: list[Path] = []

    def boom(self: EnsembleManifest, folder: Path) -> None:
        written.extend(sorted(p.name for p in folder.iterdir()))
        msg = "disk full"
        raise OSError(msg)

    monkeypatch.setattr(EnsembleManifest, "save", boom)
    out = tmp_path / "bundles" / "b"
    with pytest.raises(OSError, match="disk full"):
        export_bundle(tiny_run, out, precision="fp32")
    assert written == ["ensemble.bin", "ensemble.xml"], "the failure was meant to come mid-way"
    assert not out.exists()
    assert list(out.parent.iterdir()) == [], "a .partial folder was left behind"
