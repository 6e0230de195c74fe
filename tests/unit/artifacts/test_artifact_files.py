"""Hashing, JSON, schema checks and atomic folders shared by every artifact (no OpenVINO, no torch)."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest

from edgekit.artifacts.files import (
    atomic_dir,
    check_choice,
    check_finite,
    check_listed_files,
    check_schema,
    read_json,
    safe_relpath,
    sha256_file,
    verify_file,
    write_json,
)
from edgekit.errors import ArtifactError


def test_sha256_file_matches_hashlib_across_chunks(tmp_path: Path) -> None:
    data = bytes(range(256)) * 1000
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert sha256_file(path, chunk=4096) == hashlib.sha256(data).hexdigest()


def test_write_json_leaves_only_the_file(tmp_path: Path) -> None:
    write_json(tmp_path / "a.json", {"x": 1})
    write_json(tmp_path / "a.json", {"x": 2})
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


@pytest.mark.parametrize(
    ("content", "needle"),
    [(None, "does not exist"), ("{not json", "not valid JSON"), ("[1, 2]", "holds a list")],
)
def test_read_json_errors_are_one_line_naming_the_file(tmp_path: Path, content: str | None, needle: str) -> None:
    path = tmp_path / "thing.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ArtifactError, match=needle) as info:
        read_json(path, "thing")
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_check_schema_refuses_newer_and_names_both_versions(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError) as info:
        check_schema({"schema_version": 99}, 1, "bundle manifest", tmp_path / "m.json")
    assert "99" in str(info.value)
    assert "the 1 this edgekit reads" in str(info.value)
    check_schema({"schema_version": 1}, 1, "bundle manifest", tmp_path / "m.json")  # accepted


@pytest.mark.parametrize("value", [None, "1", 1.0, True])
def test_check_schema_refuses_non_integer_versions(tmp_path: Path, value: object) -> None:
    data = {} if value is None else {"schema_version": value}
    with pytest.raises(ArtifactError, match="no integer schema_version"):
        check_schema(data, 1, "training record", tmp_path / "r.json")


def test_verify_file_names_a_missing_or_altered_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "w.bin"
    path.write_bytes(b"abc")
    digest = sha256_file(path)
    assert verify_file(tmp_path, "sub/w.bin", digest, "bundle") == path
    path.write_bytes(b"abd")
    with pytest.raises(ArtifactError, match=r"was altered: sub/w\.bin"):
        verify_file(tmp_path, "sub/w.bin", digest, "bundle")
    path.unlink()
    with pytest.raises(ArtifactError, match=r"incomplete: sub/w\.bin is missing"):
        verify_file(tmp_path, "sub/w.bin", digest, "bundle")


def test_atomic_dir_appears_only_when_complete(tmp_path: Path) -> None:
    final = tmp_path / "out"
    with atomic_dir(final) as tmp:
        (tmp / "a").write_text("1")
        assert not final.exists()
        assert tmp.name.startswith(".out.partial-")
    assert (final / "a").read_text() == "1"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_atomic_dir_interrupted_leaves_nothing(tmp_path: Path) -> None:
    final = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt), atomic_dir(final) as tmp:
        (tmp / "a").write_text("1")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_interrupted_keeps_the_previous_folder(tmp_path: Path) -> None:
    final = tmp_path / "out"
    final.mkdir()
    (final / "old").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(final) as tmp:
        (tmp / "new").write_text("new")
        raise RuntimeError("boom")
    assert [p.name for p in final.iterdir()] == ["old"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_atomic_dir_replaces_a_previous_folder_whole(tmp_path: Path) -> None:
    final = tmp_path / "out"
    final.mkdir()
    (final / "old").write_text("old")
    with atomic_dir(final) as tmp:
        (tmp / "new").write_text("new")
    assert [p.name for p in final.iterdir()] == ["new"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_atomic_dir_refuses_a_file_or_no_overwrite(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(ArtifactError, match="already exists"), atomic_dir(tmp_path / "f"):
        pass
    (tmp_path / "d").mkdir()
    with pytest.raises(ArtifactError, match="already exists"), atomic_dir(tmp_path / "d", overwrite=False):
        pass


def test_write_json_is_strict_json(tmp_path):
    import json
    import math

    from edgekit.artifacts.files import write_json

    path = tmp_path / "m.json"
    write_json(path, {"pixel_aupro": math.nan, "nested": [1.0, math.inf, {"x": -math.inf}], "ok": 0.5})
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"pixel_aupro": None, "nested": [1.0, None, {"x": None}], "ok": 0.5}


@pytest.mark.parametrize("rel", ["ensemble.xml", "positions/p00.safetensors", "graph/ensemble.bin", "a..b/c.d"])
def test_safe_relpath_accepts_plain_relative_paths(rel: str) -> None:
    assert safe_relpath(rel, "files[0].path") == rel


@pytest.mark.parametrize(
    ("rel", "reason"),
    [
        ("..", "'..' part"),
        ("a/../../b", "'..' part"),
        ("a\\..\\..\\b", "'..' part"),
        ("/abs", "is absolute"),
        ("\\abs", "is absolute"),
        ("D:/x", "drive letter"),
        ("a\\b", "as a separator"),
        ("a//b", "empty or '.' part"),
        ("a/", "empty or '.' part"),
        ("", "is empty"),
        ("a\0b", "NUL"),
        (None, "is a NoneType, not a string"),
    ],
)
def test_safe_relpath_refuses_with_field_value_and_rule(rel: object, reason: str) -> None:
    with pytest.raises(ArtifactError) as info:
        safe_relpath(rel, "files[3].path")
    text = str(info.value)
    assert text.startswith(f"files[3].path {rel!r} ")
    assert reason in text
    assert "accepted: a relative path inside the folder" in text
    assert "\n" not in text


def test_verify_file_refuses_a_path_outside_the_root_even_if_it_exists(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "outside.bin").write_bytes(b"abc")
    with pytest.raises(ArtifactError, match=r"'\.\./outside\.bin' has a '\.\.' part"):
        verify_file(tmp_path / "root", "../outside.bin", sha256_file(tmp_path / "outside.bin"), "bundle")


def test_check_listed_files_each_once_and_each_xml_with_its_bin() -> None:
    good = [("a", "m.xml"), ("b", "m.bin"), ("c", "sub/n.xml"), ("d", "sub/n.bin"), ("e", "x.bin")]
    check_listed_files(good, "manifest")  # a .bin alone is fine: only an .xml needs its sibling
    with pytest.raises(ArtifactError, match=r"^manifest lists sub/n\.xml \(c\) but not sub/n\.bin; every file"):
        check_listed_files([("a", "m.xml"), ("b", "m.bin"), ("c", "sub/n.xml"), ("d", "n.bin")], "manifest")
    with pytest.raises(ArtifactError, match=r"^b 'm\.xml' is already listed as a; accepted: each file listed once$"):
        check_listed_files([("a", "m.xml"), ("b", "m.xml")], "manifest")


def test_check_choice_and_check_finite_name_field_value_and_accepted() -> None:
    check_choice("b", ("a", "b"), "join.weights")
    with pytest.raises(ArtifactError, match=r"^join\.weights 'c' is not known; accepted: 'a', 'b'$"):
        check_choice("c", ("a", "b"), "join.weights")
    with pytest.raises(ArtifactError, match=r"^join\.weights 1 is not known"):
        check_choice(1, ("a", "b"), "join.weights")
    for good in (0, -1.5, 3):
        check_finite(good, "x")
    for bad, shown in ((math.nan, "nan"), (-math.inf, "-inf"), (None, "None"), (True, "True"), ("2", "'2'")):
        with pytest.raises(ArtifactError, match=rf"^thresholds\.image_max {shown} is not a finite number; accepted"):
            check_finite(bad, "thresholds.image_max")
