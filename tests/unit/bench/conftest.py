"""A small trained bundle whose data is a plain MVTec-layout folder (no demo video), and helpers.

The dataset is a flat, noisy gray texture at 128 px; defective test images carry a black square.
The run is PaDiM 2x2 tiles of 64 trained through ``edgekit train``, exported INT8 through
``edgekit export``, so the bench must also build the FP32 twin and the per-position IRs itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from click.testing import CliRunner, Result

SIZE = 128


def texture(rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """A flat gray texture with mild noise, uint8 BGR."""
    gray = np.clip(128 + rng.normal(0, 10, (size, size, 1)), 0, 255).astype(np.uint8)
    return np.repeat(gray, 3, axis=2)


def with_square(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The image with a black square, and its mask."""
    size = image.shape[0]
    side = int(rng.integers(size // 8, size // 5))
    y, x = (int(v) for v in rng.integers(4, size - side - 4, 2))
    image, mask = image.copy(), np.zeros(image.shape[:2], np.uint8)
    image[y : y + side, x : x + side] = 0
    mask[y : y + side, x : x + side] = 255
    return image, mask


def write_dataset(root: Path, seed: int = 0) -> Path:
    """An MVTec-layout folder: train/good, test/good, test/square with ground_truth masks."""
    rng = np.random.default_rng(seed)
    for name in ("train/good", "test/good", "test/square", "ground_truth/square"):
        (root / name).mkdir(parents=True, exist_ok=True)
    for i in range(8):
        assert cv2.imwrite(str(root / "train/good" / f"{i:03d}.png"), texture(rng))
    for i in range(4):
        assert cv2.imwrite(str(root / "test/good" / f"{i:03d}.png"), texture(rng))
    for i in range(6):
        image, mask = with_square(texture(rng), rng)
        assert cv2.imwrite(str(root / "test/square" / f"{i:03d}.png"), image)
        assert cv2.imwrite(str(root / "ground_truth/square" / f"{i:03d}_mask.png"), mask)
    return root


def write_video(path: Path, frames: list[np.ndarray], fourcc: str = "MJPG") -> Path:
    """A video file written with OpenCV (MJPG: lossy, as a camera's recording would be)."""
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10.0, (w, h))
    assert writer.isOpened(), f"OpenCV cannot write {fourcc} here"
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def invoke(args: list[object]) -> Result:
    """``edgekit ARGS`` in process, as from a shell (click's CliRunner; stderr is part of the output)."""
    from edgekit.cli.main import cli

    return CliRunner().invoke(cli, [str(a) for a in args])


def one_error_line(result: Result) -> str:
    """The single ``error:`` line of a refused command (exit 1, no traceback, nothing else)."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


@pytest.fixture(scope="session")
def kit() -> SimpleNamespace:
    """This module's helpers (conftest modules are not importable by name)."""
    return SimpleNamespace(
        texture=texture, write_video=write_video, invoke=invoke, one_error_line=one_error_line, size=SIZE
    )


@pytest.fixture(scope="session")
def edgekit() -> Callable[[list[object]], Result]:
    """Invoke ``edgekit ARGS`` in process."""
    return invoke


@pytest.fixture(scope="session")
def plain_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MVTec-layout folder that ``edgekit demo-data`` did not make: no stream.json, no video."""
    return write_dataset(tmp_path_factory.mktemp("data") / "squares")


@pytest.fixture(scope="session")
def int8_bundle(tmp_path_factory: pytest.TempPathFactory, plain_data: Path) -> Path:
    """PaDiM 2x2 tiles of 64 on 128 px, trained and exported INT8 through the CLI; read-only."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("anomalib")
    pytest.importorskip("nncf")
    root = tmp_path_factory.mktemp("bench")
    run, bundle = root / "run", root / "bundle_int8"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: a second OpenMP thread only spins on a busy 2-core machine
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("HF_HUB_OFFLINE", "1")  # the backbone's weights come from an installed package
            size = ["--image-size", SIZE, "--tile-size", SIZE // 2, "--stride", SIZE // 2]
            trained = invoke(["train", "--data", plain_data, "--out", run, *size, "--no-progress"])
            assert trained.exit_code == 0, trained.output
            exported = invoke(["export", run, "--out", bundle, "--precision", "int8"])
            assert exported.exit_code == 0, exported.output
    finally:
        torch.set_num_threads(threads)
    return bundle


@pytest.fixture
def quiet_workers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Bench workers without network and with one OpenMP thread (the anomalib mode's torch on a busy box)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    yield
