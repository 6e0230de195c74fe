"""Helpers for the command-line tests: tiny image folders and an in-process ``edgekit``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from click.testing import CliRunner, Result


def texture(seed: int, size: int | tuple[int, int] = 64) -> np.ndarray:
    """A flat gray, mildly noisy uint8 BGR image."""
    h, w = (size, size) if isinstance(size, int) else size
    gray = np.clip(128 + np.random.default_rng(seed).normal(0, 10, (h, w, 1)), 0, 255).astype(np.uint8)
    return np.repeat(gray, 3, axis=2)


def write_png(path: Path, image: np.ndarray) -> Path:
    """Write an image, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return path


def truncated_png(path: Path, seed: int = 0) -> Path:
    """A PNG cut in half, as a copy interrupted on a shared drive leaves it."""
    ok, buf = cv2.imencode(".png", texture(seed))
    assert ok
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.tobytes()[: len(buf) // 2])
    return path


@pytest.fixture
def good_data(tmp_path: Path) -> Path:
    """A minimal valid dataset: 6 good 64 px training images, 2 good test images."""
    root = tmp_path / "cat"
    for i in range(6):
        write_png(root / "train/good" / f"{i:03d}.png", texture(i))
    for i in range(2):
        write_png(root / "test/good" / f"{i:03d}.png", texture(100 + i))
    return root


def _invoke(args: list[object]) -> Result:
    from edgekit.cli.main import cli

    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="session")
def edgekit() -> Callable[[list[object]], Result]:
    """Invoke ``edgekit ARGS`` in process (click's CliRunner; stderr is part of ``output``)."""
    return _invoke


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Tiny tensors: one torch thread is as fast, and far faster on a busy 2-core machine.

    Not autouse: the runtime's command tests in this folder must not import torch.
    """
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def one_error_line(result: Result, exit_code: int = 1) -> str:
    """The single ``error:`` line of a refused command (and nothing else, no traceback)."""
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


@pytest.fixture(scope="session")
def refused() -> Callable[..., str]:
    """:func:`one_error_line` as a fixture (conftest modules are not importable by name)."""
    return one_error_line


@pytest.fixture(scope="session")
def images() -> SimpleNamespace:
    """The image helpers of this conftest: ``texture``, ``write_png``, ``truncated_png``."""
    return SimpleNamespace(texture=texture, write_png=write_png, truncated_png=truncated_png)
