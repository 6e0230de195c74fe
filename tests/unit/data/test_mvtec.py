from pathlib import Path

import cv2
import numpy as np
import pytest

from edgekit.data import load_split, read_image, scan_dataset, to_bgr
from edgekit.errors import DataError


def _write(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return path


@pytest.fixture
def dataset(tmp_path: Path, rng: np.random.Generator) -> Path:
    root = tmp_path / "cat"
    for i in range(3):
        _write(root / "train/good" / f"{i:03d}.png", rng.integers(0, 255, (80, 80, 3), dtype=np.uint8))
    _write(root / "test/good/000.png", rng.integers(0, 255, (80, 80, 3), dtype=np.uint8))
    _write(root / "test/scratch/000.png", rng.integers(0, 255, (80, 80, 3), dtype=np.uint8))
    mask = np.zeros((80, 80), np.uint8)
    mask[10:20, 10:20] = 255
    _write(root / "ground_truth/scratch/000_mask.png", mask)
    return root


def test_scan_finds_layout(dataset: Path) -> None:
    ds = scan_dataset(dataset)
    assert len(ds.train) == 3
    assert [s.kind for s in ds.test] == ["good", "scratch"]
    assert ds.n_test_anomalous == 1
    loaded = load_split(ds.test, (64, 64))
    assert loaded.images.shape == (2, 64, 64, 3)
    assert loaded.labels.tolist() == [0, 1]
    assert loaded.masks[0].sum() == 0
    assert loaded.masks[1].sum() == pytest.approx(8 * 8, rel=0.3)
    assert set(np.unique(loaded.masks[1])) == {0, 1}


@pytest.mark.parametrize(
    ("setup", "fragment"),
    [
        (lambda root: None, "does not exist"),
        (lambda root: root.mkdir(), "has no train/good folder"),
        (lambda root: (root / "train/good").mkdir(parents=True), "holds no images"),
    ],
)
def test_missing_and_empty_train_folder(tmp_path: Path, setup, fragment: str) -> None:
    root = tmp_path / "cat"
    setup(root)
    with pytest.raises(DataError, match=fragment):
        scan_dataset(root)


def test_missing_mask_is_named(dataset: Path) -> None:
    (dataset / "ground_truth/scratch/000_mask.png").unlink()
    with pytest.raises(DataError, match=r"000_mask\.png"):
        scan_dataset(dataset)


def test_unreadable_and_truncated_files_are_skipped_and_named(dataset: Path) -> None:
    (dataset / "train/good/bad.png").write_bytes(b"not a png")
    good = (dataset / "train/good/000.png").read_bytes()
    (dataset / "train/good/trunc.png").write_bytes(good[: len(good) // 3])
    loaded = load_split(scan_dataset(dataset).train, (64, 64), what="train split")
    assert len(loaded.samples) == 3
    assert sorted(Path(p).name for p, _ in loaded.skipped) == ["bad.png", "trunc.png"]


def test_nothing_readable_is_refused(tmp_path: Path) -> None:
    (tmp_path / "c/train/good").mkdir(parents=True)
    (tmp_path / "c/train/good/x.png").write_bytes(b"")
    with pytest.raises(DataError, match="no readable images in the train split"):
        load_split(scan_dataset(tmp_path / "c").train, (64, 64), what="train split")


def test_gray_rgba_and_mixed_sizes_are_converted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "c"
    _write(root / "train/good/gray.png", np.full((100, 90), 7, np.uint8))
    _write(root / "train/good/rgba.png", np.full((80, 80, 4), 9, np.uint8))
    _write(root / "train/good/deep.png", np.full((80, 80, 3), 256 * 200, np.uint16))
    loaded = load_split(scan_dataset(root).train, (64, 64), what="train split")
    assert loaded.images.shape == (3, 64, 64, 3)
    assert loaded.conversions == {"16bit": 1, "gray": 1, "bgra": 1}
    assert "mixed sizes" in caplog.text


def test_image_smaller_than_tile_is_refused(dataset: Path) -> None:
    with pytest.raises(DataError, match=r"is 80x80, smaller than a 96x96 tile"):
        load_split(scan_dataset(dataset).train, (128, 128), min_hw=(96, 96))


def test_to_bgr_rejects_odd_shapes() -> None:
    with pytest.raises(DataError, match=r"shape \(4, 4, 2\)"):
        to_bgr(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(DataError, match="dtype float32"):
        to_bgr(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(DataError, match="does not exist"):
        read_image(Path("/nonexistent.png"))
