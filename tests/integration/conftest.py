"""Shared, session-scoped inputs of the end-to-end tests: one tiny dataset with known answers and its runs.

The dataset is a flat, noisy gray texture; defective test images carry one big black square, and
the masks say exactly where. Any working detector finds those, so metrics can be asserted, not
just printed. Images are 128 px; the five-model smoke tests train at ``--image-size 64`` (2x2 tiles
of 32) to stay fast, the known-answer tests at 128 (2x2 tiles of 64).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner, Result

SIZE = 128
N_TRAIN, N_TEST_GOOD, N_TEST_BAD = 8, 4, 6
SEED = 0


def texture(rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """A flat gray texture with mild noise, uint8 BGR."""
    gray = np.clip(128 + rng.normal(0, 10, (size, size, 1)), 0, 255).astype(np.uint8)
    return np.repeat(gray, 3, axis=2)


def write_known_dataset(root: Path, seed: int = SEED) -> Path:
    """Write the MVTec-layout known-answer dataset (train/good, test/good, test/square + masks)."""
    rng = np.random.default_rng(seed)
    folders = {name: root / name for name in ("train/good", "test/good", "test/square", "ground_truth/square")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    for i in range(N_TRAIN):
        assert cv2.imwrite(str(folders["train/good"] / f"{i:03d}.png"), texture(rng))
    for i in range(N_TEST_GOOD):
        assert cv2.imwrite(str(folders["test/good"] / f"{i:03d}.png"), texture(rng))
    for i in range(N_TEST_BAD):
        side = int(rng.integers(SIZE // 8, SIZE // 5))
        y, x = (int(v) for v in rng.integers(4, SIZE - side - 4, 2))
        image, mask = texture(rng), np.zeros((SIZE, SIZE), np.uint8)
        image[y : y + side, x : x + side] = 0
        mask[y : y + side, x : x + side] = 255
        assert cv2.imwrite(str(folders["test/square"] / f"{i:03d}.png"), image)
        assert cv2.imwrite(str(folders["ground_truth/square"] / f"{i:03d}_mask.png"), mask)
    return root


@pytest.fixture(scope="session")
def known_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The known-answer dataset, written once per session (never modified by a test)."""
    return write_known_dataset(tmp_path_factory.mktemp("data") / "squares")


@pytest.fixture(scope="session")
def resnet18_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-init timm resnet18 state dict as .safetensors: a ResNet backbone with no network."""
    torch = pytest.importorskip("torch")
    timm = pytest.importorskip("timm")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "resnet18-random.safetensors"
    safetensors_torch.save_file(timm.create_model("resnet18", pretrained=False).state_dict(), str(path))
    return path


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Run torch on one thread in these tests.

    The tensors here are tiny, so a second thread gains nothing, and on a busy 2-core machine
    OpenMP's spinning threads made the same tests about 5x slower (measured: 143 s vs 27 s).
    """
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _root_logger_guard() -> Iterator[None]:
    """Put the root logger back after each test.

    ``ov.convert_model`` sets the root logger to ERROR (and may add a handler) and restores it only
    when the conversion succeeds: one failed conversion would silence every later test's warnings.
    """
    root = logging.getLogger()
    level, handlers, filters = root.level, list(root.handlers), list(root.filters)
    yield
    root.setLevel(level)
    for handler in list(root.handlers):  # OpenVINO's plain StreamHandler (pytest's own are subclasses)
        if type(handler) is logging.StreamHandler and handler not in handlers:
            root.removeHandler(handler)
    for log_filter in list(root.filters):
        if log_filter not in filters:
            root.removeFilter(log_filter)


def _invoke(args: list[object]) -> Result:
    from edgekit.cli.main import cli

    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="session")
def edgekit() -> Callable[[list[object]], Result]:
    """Invoke ``edgekit ARGS`` in process, as a user would from a shell (click's CliRunner)."""
    return _invoke


@pytest.fixture(scope="session")
def padim_run(tmp_path_factory: pytest.TempPathFactory, known_data: Path) -> Path:
    """A PaDiM 2x2 ensemble (tiles of 64 on 128 px) trained through ``edgekit train``; read-only."""
    out = tmp_path_factory.mktemp("runs") / "padim"
    args = ["train", "--data", known_data, "--out", out, "--image-size", SIZE, "--tile-size", SIZE // 2,
            "--stride", SIZE // 2, "--no-progress"]
    result = _invoke(args)
    assert result.exit_code == 0, result.output
    return out
