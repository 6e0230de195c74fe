"""Hashing, JSON, path and value checks, and atomic directory writes shared by every artifact."""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from edgekit.errors import ArtifactError


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks.

    Args:
        path: The file.
        chunk: Read size in bytes.

    Returns:
        The lowercase hex digest.
    """
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _strict(value: Any) -> Any:
    """Replace NaN and infinities (a metric that cannot be computed) with None: strict JSON has no NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value


def write_json(path: Path, data: Any) -> None:
    """Write strict JSON atomically: to a temporary file in the same folder, fsync, then rename.

    NaN and infinities (a metric that cannot be computed, e.g. AUPRO without defect masks) become null.

    Args:
        path: Destination file.
        data: JSON-serializable data.
    """
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(_strict(data), f, indent=2, sort_keys=False, allow_nan=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def read_json(path: Path, what: str) -> dict[str, Any]:
    """Read a JSON object, with one-line errors for a missing or corrupt file.

    Args:
        path: The file.
        what: What the file is, for messages (e.g. ``"training record"``).

    Returns:
        The parsed object.

    Raises:
        ArtifactError: If the file is missing, not JSON, or not an object.
    """
    if not path.is_file():
        msg = f"{what} not found: {path} does not exist"
        raise ArtifactError(msg)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        msg = f"{what} {path} is not valid JSON ({error})"
        raise ArtifactError(msg) from error
    if not isinstance(data, dict):
        msg = f"{what} {path} holds a {type(data).__name__}, expected a JSON object"
        raise ArtifactError(msg)
    return data


def check_schema(data: dict[str, Any], supported: int, what: str, path: Path) -> None:
    """Refuse a file written by a newer (or unversioned) schema.

    Args:
        data: The parsed JSON object.
        supported: The newest schema version this edgekit reads.
        what: What the file is, for messages.
        path: Where it came from, for messages.

    Raises:
        ArtifactError: If ``schema_version`` is missing, not an int, or newer than supported.
    """
    version = data.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        msg = f"{what} {path} has no integer schema_version (got {version!r}); it was not written by edgekit"
        raise ArtifactError(msg)
    if version > supported:
        msg = (
            f"{what} {path} has schema_version {version}, newer than the {supported} this edgekit reads: "
            "upgrade edgekit (pip install -U edgekit)"
        )
        raise ArtifactError(msg)


RELPATH_ACCEPTED = (
    "accepted: a relative path inside the folder, parts joined by '/', "
    "with no '..' or '.' part, no leading '/' or '\\' and no drive letter (e.g. 'positions/p00.safetensors')"
)
_DRIVE = re.compile(r"^[A-Za-z]:")


def safe_relpath(rel: Any, what: str) -> str:
    """Refuse a listed path that could point outside its artifact folder.

    The one rule for every path a record or manifest lists: relative, ``/``-separated, no ``..``.
    Backslashes and drive letters are refused too, so a path cannot escape on Windows either, and
    each file has exactly one spelling (which makes duplicates detectable).

    Args:
        rel: The path as read from the file.
        what: The field it came from, for messages (e.g. ``"files[1].path"``).

    Returns:
        ``rel`` unchanged.

    Raises:
        ArtifactError: If ``rel`` is not such a path.
    """
    if not isinstance(rel, str):
        problem = f"is a {type(rel).__name__}, not a string"
    elif not rel:
        problem = "is empty"
    elif ".." in re.split(r"[/\\]", rel):
        problem = "has a '..' part that leaves the folder"
    elif rel.startswith(("/", "\\")):
        problem = "is absolute"
    elif _DRIVE.match(rel):
        problem = "starts with a drive letter"
    elif "\\" in rel:
        problem = "uses '\\' as a separator"
    elif "\0" in rel:
        problem = "holds a NUL character"
    elif any(part in ("", ".") for part in rel.split("/")):
        problem = "has an empty or '.' part"
    else:
        return rel
    msg = f"{what} {rel!r} {problem}; {RELPATH_ACCEPTED}"
    raise ArtifactError(msg)


def check_listed_files(paths: Iterable[tuple[str, Any]], owner: str) -> None:
    """Check the file list of a record or manifest: safe paths, no duplicates, each IR complete.

    OpenVINO reads ``X.bin`` next to ``X.xml`` on its own; unless ``X.bin`` is listed (and so
    hash-checked) an altered or swapped weights file would load unnoticed.

    Args:
        paths: ``(field name, path)`` pairs, e.g. ``("files[0].path", "ensemble.xml")``.
        owner: What lists them, for messages (``"manifest"``, ``"training record"``).

    Raises:
        ArtifactError: On an unsafe path, a path listed twice, or an ``.xml`` without its ``.bin``.
    """
    seen: dict[str, str] = {}
    for what, rel in paths:
        safe_relpath(rel, what)
        if rel in seen:
            msg = f"{what} {rel!r} is already listed as {seen[rel]}; accepted: each file listed once"
            raise ArtifactError(msg)
        seen[rel] = what
    for rel, what in seen.items():
        if rel.endswith(".xml") and f"{rel[:-4]}.bin" not in seen:
            msg = (
                f"{owner} lists {rel} ({what}) but not {rel[:-4]}.bin; every file the model needs must be listed "
                "(with its sha256) so it is verified before OpenVINO opens it"
            )
            raise ArtifactError(msg)


def check_choice(value: Any, accepted: Iterable[str], what: str) -> None:
    """Refuse a value outside a known set of names.

    Args:
        value: The value read or passed.
        accepted: The known names (e.g. an enum's values).
        what: The field, for messages (e.g. ``"join.weights"``).

    Raises:
        ArtifactError: If ``value`` is not one of ``accepted``.
    """
    names = [str(a) for a in accepted]
    if not isinstance(value, str) or value not in names:
        msg = f"{what} {value!r} is not known; accepted: {', '.join(repr(n) for n in names)}"
        raise ArtifactError(msg)


def check_finite(value: Any, what: str) -> None:
    """Refuse anything but a finite real number (NaN, infinities, null, strings and booleans).

    Args:
        value: The value read or passed.
        what: The field, for messages (e.g. ``"thresholds.image_min"``).

    Raises:
        ArtifactError: If ``value`` is not a finite number.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        msg = f"{what} {value!r} is not a finite number; accepted: a finite int or float"
        raise ArtifactError(msg)


def verify_file(root: Path, rel: str, sha256: str, what: str) -> Path:
    """Check that a file listed in a record or manifest exists and has its recorded hash.

    Args:
        root: The artifact folder.
        rel: The file's path relative to ``root``.
        sha256: The recorded hex digest.
        what: What the folder is, for messages.

    Returns:
        The file's absolute path.

    Raises:
        ArtifactError: If ``rel`` leaves ``root``, or the file is missing or its content differs.
    """
    path = root / safe_relpath(rel, f"{what} {root}: listed path")
    if not path.is_file():
        msg = f"{what} {root} is incomplete: {rel} is missing"
        raise ArtifactError(msg)
    actual = sha256_file(path)
    if actual != sha256:
        msg = (
            f"{what} {root} was altered: {rel} has sha256 {actual[:12]}..., "
            f"the record says {sha256[:12]}...; re-create it rather than edit it"
        )
        raise ArtifactError(msg)
    return path


@contextmanager
def atomic_dir(final: Path, *, overwrite: bool = True) -> Iterator[Path]:
    """Build a folder under a temporary name and move it into place only when complete.

    An interrupted writer leaves at most a hidden ``.<name>.partial-*`` folder, never a folder
    at ``final`` that looks whole.

    Args:
        final: Where the folder should end up.
        overwrite: Replace an existing folder at ``final`` (after the new one is complete).

    Yields:
        The temporary folder to write into.

    Raises:
        ArtifactError: If ``final`` exists, is not a folder, or ``overwrite`` is False.
    """
    final = final.resolve()
    if final.exists() and (not final.is_dir() or not overwrite):
        msg = f"output {final} already exists; choose another path or remove it"
        raise ArtifactError(msg)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.partial-{uuid.uuid4().hex[:8]}")
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():
        old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
        final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(final)
