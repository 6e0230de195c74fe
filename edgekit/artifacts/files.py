"""Hashing, JSON and atomic directory writes shared by every artifact."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import uuid
from collections.abc import Iterator
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
        ArtifactError: If the file is missing or its content differs.
    """
    path = root / rel
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
