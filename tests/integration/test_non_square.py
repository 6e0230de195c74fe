"""Non-square frames (``--image-size WxH``) through train, evaluate, export, run and bench."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

pytestmark = pytest.mark.slow

W, H = 128, 96  # 3 columns x 2 rows of 64 px tiles at stride 32 (the data is 128 x 128)


@pytest.fixture(scope="module")
def wide_run(known_data: Path, edgekit, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("nonsquare") / "run"
    result = edgekit(
        ["train", "--data", known_data, "--out", run, "--image-size", f"{W}x{H}", "--tile-size", "64",
         "--stride", "32", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    return run


def test_the_grid_is_the_frames_shape(wide_run: Path) -> None:
    record = json.loads((wide_run / "training.json").read_text())
    assert record["grid"] == {"image_hw": [H, W], "tile_hw": [64, 64], "stride_hw": [32, 32]}
    assert len(record["positions"]) == 2 * 3


def test_export_run_and_bench_take_whole_non_square_frames(
    wide_run: Path, known_data: Path, edgekit, tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle"
    result = edgekit(["export", wide_run, "--out", bundle, "--precision", "fp32"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["input"]["shape"] == [1, 3, H, W]

    from edgekit.runtime import load

    frames = sorted((known_data / "test").glob("*/*.png"))
    engine = load(bundle)
    results = [engine.predict(cv2.imread(str(p))) for p in frames]
    assert all(r.anomaly_map.shape == (H, W) and r.mask.shape == (H, W) for r in results)
    bad = [p.parent.name != "good" for p in frames]
    # every defective frame flagged (good ones may pass the threshold: it is a quantile of 2 held-out frames)
    assert all(r.label for r, b in zip(results, bad, strict=True) if b)

    out = tmp_path / "out"
    result = edgekit(["run", bundle, "--source", frames[0].parent, "--out", out])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "report.json").read_text())["frames"] == len(list(frames[0].parent.glob("*.png")))

    result = edgekit(
        ["bench", bundle, "--source", frames[0].parent, "--modes", "bound,edgekit", "--frames", "8", "--warmup", "1",
         "--work", tmp_path / "bench", "--json", tmp_path / "bench.json", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    bench = json.loads((tmp_path / "bench.json").read_text())
    assert not bench["failed"] and all(bench["modes"][m]["frames"] == 8 for m in ("bound", "edgekit"))


def test_evaluate_baselines_name_the_non_square_full_size(wide_run: Path, known_data: Path, edgekit) -> None:
    result = edgekit(["evaluate", wide_run, "--data", known_data, "--baselines", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert f"single@{W}x{H}" in result.output and "single@64" in result.output
