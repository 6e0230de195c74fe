"""``edgekit train`` on bad input: each mistake is ONE clear line (exit 1), or handled and reported."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from click.testing import Result

pytest.importorskip("anomalib")
pytestmark = pytest.mark.usefixtures("one_torch_thread")

Edgekit = Callable[[list[object]], Result]
TINY = ["--image-size", "64", "--tile-size", "32", "--stride", "32", "--no-progress"]


def _train(edgekit: Edgekit, data: Path, out: Path, *extra: object) -> Result:
    return edgekit(["train", "--data", data, "--out", out, *TINY, *extra])


# --- refused before any training -------------------------------------------------------------


def test_missing_data_folder(edgekit: Edgekit, refused: Callable, tmp_path: Path) -> None:
    line = refused(_train(edgekit, tmp_path / "nope", tmp_path / "run"))
    assert "data folder" in line and "does not exist" in line and "train/good" in line
    assert not (tmp_path / "run").exists()


def test_no_train_good_folder(edgekit: Edgekit, refused: Callable, tmp_path: Path) -> None:
    (tmp_path / "cat" / "train").mkdir(parents=True)
    line = refused(_train(edgekit, tmp_path / "cat", tmp_path / "run"))
    assert "has no train/good folder" in line


@pytest.mark.parametrize("content", [None, "notes.txt"], ids=["empty", "no-images"])
def test_train_folder_without_images(edgekit: Edgekit, refused: Callable, tmp_path: Path, content: str | None) -> None:
    good = tmp_path / "cat" / "train" / "good"
    good.mkdir(parents=True)
    if content:
        (good / content).write_text("not an image")
    line = refused(_train(edgekit, tmp_path / "cat", tmp_path / "run"))
    assert f"train folder {good} holds no images" in line and ".png" in line


def test_all_images_unreadable(edgekit: Edgekit, refused: Callable, images: SimpleNamespace, tmp_path: Path) -> None:
    good = tmp_path / "cat" / "train" / "good"
    images.truncated_png(good / "a_truncated.png")
    (good / "b_garbage.png").write_bytes(b"\x89PNG but not really" * 10)
    line = refused(_train(edgekit, tmp_path / "cat", tmp_path / "run"))
    assert "no readable images in the train split (2 unreadable" in line
    assert str(good / "a_truncated.png") in line


def test_image_smaller_than_a_tile(
    edgekit: Edgekit, refused: Callable, images: SimpleNamespace, good_data: Path, tmp_path: Path
) -> None:
    small = images.write_png(good_data / "train/good/zz_small.png", images.texture(9, 20))
    line = refused(_train(edgekit, good_data, tmp_path / "run"))
    assert str(small) in line and "20x20, smaller than a 32x32 tile" in line


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        (["--stride", "48"], "stride_hw (48, 48) is larger than tile_hw (32, 32)"),
        (["--tile-size", "96"], "tile_hw (96, 96) is larger than image_hw (64, 64)"),
        (["--tile-size", "0"], "--tile-size '0' is out of range; accepted: positive pixels"),
        (["--image-size", "64by48"], "--image-size '64by48' is not accepted; accepted: N (N x N pixels) or WxH"),
        (["--n-features", "500"], "accepted: 1 <= n_features <= 152"),
        (["--layers", "blocks.2,blocks.3"], "'blocks.3' is not a feature layer of efficientnet_lite0; accepted:"),
        (["--model", "reverse_distillation"], "reverse_distillation cannot use backbone 'efficientnet_lite0'"),
        (["--batch-size", "0"], "batch_size 0 is out of range"),
    ],
)
def test_bad_options(
    edgekit: Edgekit, refused: Callable, good_data: Path, tmp_path: Path, options: list[str], needle: str
) -> None:
    line = refused(_train(edgekit, good_data, tmp_path / "run", *options))
    assert needle in line
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("option", "value", "valid"),
    [
        ("--model", "padimm", ["padim", "patchcore", "stfpm", "fastflow", "reverse_distillation"]),
        ("--backbone", "resnet1800", ["efficientnet_lite0", "resnet18", "wide_resnet50_2"]),
    ],
)
def test_unknown_model_or_backbone_lists_the_valid_ones(
    edgekit: Edgekit, good_data: Path, tmp_path: Path, option: str, value: str, valid: list[str]
) -> None:
    result = _train(edgekit, good_data, tmp_path / "run", option, value)
    assert result.exit_code == 2  # click's usage error for a Choice
    assert "Traceback" not in result.output
    assert f"Invalid value for '{option}'" in result.output and value in result.output
    assert all(name in result.output for name in valid)


def test_coreset_ratio_that_keeps_nothing(edgekit: Edgekit, refused: Callable, good_data: Path, tmp_path: Path) -> None:
    line = refused(_train(edgekit, good_data, tmp_path / "run", "--model", "patchcore", "--coreset-ratio", "0.001"))
    # 6 images, one held out to fit thresholds (--val-split auto): 5 x 4x4 patches
    assert "coreset_ratio 0.001 keeps none of the 80 patch features" in line
    assert not (tmp_path / "run").exists()


def test_out_folder_that_is_not_a_run(edgekit: Edgekit, refused: Callable, good_data: Path, tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("keep me")
    line = refused(_train(edgekit, good_data, mine))
    assert "not an edgekit run folder" in line
    assert (mine / "thesis.tex").read_text() == "keep me"



@pytest.mark.usefixtures("offline_hub")
def test_resnet18_without_weights_offline_names_the_weights_option(
    edgekit: Edgekit, refused: Callable, good_data: Path, tmp_path: Path
) -> None:
    line = refused(_train(edgekit, good_data, tmp_path / "run", "--backbone", "resnet18"))
    assert "'resnet18'" in line and "--weights FILE" in line
    assert not (tmp_path / "run").exists()


# --- handled, counted and reported: one training on a messy folder ---------------------------


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.levelname} {record.getMessage()}")


@pytest.fixture(scope="module")
def messy_run(
    tmp_path_factory: pytest.TempPathFactory, edgekit: Edgekit, images: SimpleNamespace
) -> Iterator[tuple[Result, Path, list[str]]]:
    """Train once on a folder with a truncated file, garbage, a gray and an RGBA image, mixed sizes,
    and a test split with no anomalies."""
    root = tmp_path_factory.mktemp("messy") / "cat"
    good = root / "train" / "good"
    for i in range(5):
        images.write_png(good / f"{i:03d}.png", images.texture(i))
    images.write_png(good / "010_gray.png", images.texture(10)[..., 0])
    rgba = np.dstack([images.texture(11), np.full((64, 64), 255, np.uint8)])
    images.write_png(good / "011_rgba.png", rgba)
    images.write_png(good / "012_big.png", cv2.resize(images.texture(12), (80, 96)))
    images.truncated_png(good / "013_truncated.png")
    (good / "014_garbage.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    for i in range(3):
        images.write_png(root / "test/good" / f"{i:03d}.png", images.texture(200 + i))
    handler = _Records()
    logger = logging.getLogger("edgekit")
    level = logger.level
    # our own level: the root's may have been changed by another library (a failed
    # ov.convert_model leaves the root logger at ERROR)
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        out = root.parent / "run"
        result = edgekit(["train", "--data", root, "--out", out, *TINY])
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    yield result, out, handler.messages


def test_messy_folder_trains(messy_run: tuple) -> None:
    result, out, _ = messy_run
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert (out / "training.json").is_file()


def test_unreadable_files_are_skipped_counted_and_named(messy_run: tuple) -> None:
    result, out, messages = messy_run
    assert "skipped 2 unreadable file(s), first: " in result.output and "013_truncated.png" in result.output
    skipped = json.loads((out / "training.json").read_text())["data"]["skipped"]
    assert [Path(path).name for path, _ in skipped] == ["013_truncated.png", "014_garbage.jpg"]
    assert all("unreadable or truncated" in reason for _, reason in skipped)
    assert sum("skipping" in m and "013_truncated.png" in m for m in messages) == 1


def test_gray_and_rgba_are_converted_and_counted(messy_run: tuple) -> None:
    _, out, _ = messy_run
    data = json.loads((out / "training.json").read_text())["data"]
    assert data["conversions"] == {"gray": 1, "bgra": 1}
    # 5 + gray + rgba + the larger one; the 2 unreadable are not (some of the 8 held out for thresholds)
    assert data["n_train"] + data["n_val"] == 8 and data["val_split"] == "from_train"


def test_mixed_sizes_are_resized_with_one_warning(messy_run: tuple) -> None:
    _, _, messages = messy_run
    warnings = [m for m in messages if "mixed sizes" in m]
    assert len(warnings) == 1
    assert warnings[0].startswith("WARNING") and "64x64 (7)" in warnings[0] and "96x80 (1)" in warnings[0]
    assert "resized to 64x64" in warnings[0]


def test_validation_without_anomalies_falls_back_to_the_normal_quantile(messy_run: tuple) -> None:
    result, out, messages = messy_run
    thresholds = json.loads((out / "training.json").read_text())["thresholds"]
    assert thresholds["method"] == "normal_quantile"
    assert "no anomalies" in thresholds["detail"] and "0.99 quantile" in thresholds["detail"]
    assert "no anomalies" in result.output  # the printed thresholds line says so too
    assert any("validation has no anomalies" in m for m in messages)
