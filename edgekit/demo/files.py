"""Files of a generated data set: argument checks, a safe output folder, PNG and JSON writers.

Shared by the demo set (:mod:`edgekit.demo.writer`) and the wide benchmark set
(:mod:`edgekit.demo.wide`). An output folder is accepted when it is new, empty, or an earlier
output of the same set (its summary JSON names :data:`GENERATOR`, or a run was interrupted there);
the set's summary JSON is written last, so its presence means "complete".
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np

from edgekit.demo.summary import GENERATOR
from edgekit.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

MIN_SIZE = 64
# Present while a run is writing; lets a rerun recognise (and replace) an interrupted output folder.
IN_PROGRESS = ".edgekit-demo-incomplete"


def check_size_seed(size: int, seed: int, min_size: int = MIN_SIZE, *, even: bool = True) -> None:
    """Refuse a frame side or seed that the generators cannot use.

    Args:
        size: Side of the square frames, pixels.
        seed: The data set seed.
        min_size: Smallest accepted side.
        even: Refuse odd sides too (the demo's videos store even sides only).

    Raises:
        ConfigError: If ``size`` is not an integer >= ``min_size`` (even if asked) or ``seed`` is negative.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < min_size or (even and size % 2):
        if even:
            rule, accepted = "an even side", f"{min_size}, {min_size + 2}, ..., e.g. 512"
            rule += f" of at least {min_size} px (video codecs store even sides only)"
        else:
            rule, accepted = f"a side of at least {min_size} px", f"an integer >= {min_size}, e.g. 512"
        msg = f"size {size!r} is not accepted: frames must be square with {rule}; accepted: {accepted}"
        raise ConfigError(msg)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        msg = f"seed {seed!r} is not accepted; accepted: an integer >= 0"
        raise ConfigError(msg)


def check_names(names: Sequence[str] | None, known: Sequence[str], what: str) -> tuple[str, ...]:
    """The requested category names, in order and without repeats; all of ``known`` if None.

    Args:
        names: Requested names, or None for all.
        known: The accepted names.
        what: Name of the set for messages, e.g. ``"demo"``.

    Returns:
        The chosen names.

    Raises:
        ConfigError: If ``names`` is empty, a bare string, or holds a name not in ``known``.
    """
    known = [str(k) for k in known]
    if names is None:
        return tuple(known)
    if isinstance(names, str) or not names:
        msg = f"categories {names!r} is not accepted; accepted: a non-empty list from {known}"
        raise ConfigError(msg)
    unknown = [n for n in names if n not in known]
    if unknown:
        msg = f"unknown {what} categories {unknown}; accepted: {known}"
        raise ConfigError(msg)
    return tuple(dict.fromkeys(str(n) for n in names))


def prepare_output(root: Path, summary_name: str, folders: Iterable[str]) -> None:
    """Make ``root`` ready: create it, or clear an earlier output of the same set; refuse anything else.

    Args:
        root: The output folder.
        summary_name: File name of the set's summary JSON (e.g. ``demo.json``).
        folders: Category folders an earlier output may hold; they are removed.

    Raises:
        ConfigError: If ``root`` is a file, or a non-empty folder that is not an earlier output.
    """
    if root.exists() and not root.is_dir():
        msg = f"output {root} is a file; accepted: a new or empty folder, or an earlier demo-data output"
        raise ConfigError(msg)
    if root.is_dir() and any(root.iterdir()):
        if not _is_generated(root, summary_name):
            msg = (
                f"output folder {root} is not empty and is not an edgekit demo dataset (no {summary_name}); "
                "accepted: a new or empty folder, or an earlier demo-data output"
            )
            raise ConfigError(msg)
        logger.info("regenerating the data set in %s", root)
        # Mark the run first and drop the summary, so an interrupted rerun never looks complete.
        (root / IN_PROGRESS).touch()
        (root / summary_name).unlink(missing_ok=True)
        for folder in folders:
            if (root / folder).is_dir():
                shutil.rmtree(root / folder)
    root.mkdir(parents=True, exist_ok=True)
    (root / IN_PROGRESS).touch()


def finish_output(root: Path, summary_name: str, content: dict) -> None:
    """Write the summary JSON and drop the in-progress marker: the output is now complete.

    Args:
        root: The output folder.
        summary_name: File name of the summary JSON.
        content: The summary.
    """
    write_json(root / summary_name, content)
    (root / IN_PROGRESS).unlink(missing_ok=True)


def _is_generated(root: Path, summary_name: str) -> bool:
    if (root / IN_PROGRESS).is_file():
        return True
    try:
        content = json.loads((root / summary_name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(content, dict) and content.get("generator") == GENERATOR


def file_stem(index: int, count: int) -> str:
    """Zero-padded file stem of item ``index`` of ``count`` (at least three digits).

    Args:
        index: Item number, from 0.
        count: Number of items in the folder.

    Returns:
        E.g. ``"007"``.
    """
    return f"{index:0{max(3, len(str(count - 1)))}d}"


def write_png(path: Path, image: np.ndarray) -> None:
    """Write ``image`` as PNG, creating the folder.

    Args:
        path: Destination file.
        image: uint8 BGR (H, W, 3) or grey (H, W).

    Raises:
        DataError: If the file cannot be written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image):
        msg = f"cannot write image {path}: check the folder is writable and has space"
        raise DataError(msg)


def write_json(path: Path, content: dict) -> None:
    """Write JSON through a temporary file and a rename, so a reader never sees half a file.

    Args:
        path: Destination file.
        content: JSON-ready content.
    """
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    temporary.replace(path)
