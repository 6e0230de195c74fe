"""``edgekit bench BUNDLE --source SRC`` on a bundle trained on a plain MVTec-layout folder (no demo video).

Each mode runs in its own process; frames are kept few, since the anomalib mode runs full torch
models per position. The assertions are about what the bench promises: every mode measures the
same frames, every figure is there, the ratios are computed, and bad input is one line, exit 1.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

FRAMES, WARMUP = 6, 2


def _bench(kit: SimpleNamespace, bundle: Path, work: Path, *args: object) -> dict:
    out = work / "bench.json"
    counts = ["--frames", FRAMES, "--warmup", WARMUP]
    result = kit.invoke(["bench", bundle, "--work", work, "--json", out, *counts, "--no-progress", *args])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return json.loads(out.read_text())


def _assert_same_frames_everywhere(result: dict, modes: list[str]) -> None:
    assert result["failed"] == []
    assert result["frames_differ"] == []
    assert list(result["modes"]) == modes
    for mode, figures in result["modes"].items():
        assert figures["frames"] == FRAMES, mode
        assert figures["warmup"] == WARMUP, mode
        assert figures["fps"] > 0, mode
        lat = figures["latency_ms"]
        assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"], mode
        assert figures["peak_rss_mb"] > 0, mode


@pytest.mark.slow
@pytest.mark.usefixtures("quiet_workers")
def test_every_mode_on_a_video_source(
    kit: SimpleNamespace, int8_bundle: Path, plain_data: Path, tmp_path: Path
) -> None:
    # a 5-frame lossy video: shorter than warm-up + measured, so the bench must loop it for every mode
    images = [cv2.imread(str(p)) for p in sorted((plain_data / "test").rglob("*.png"))[:5]]
    video = kit.write_video(tmp_path / "line.avi", images)
    modes = ["bound", "edgekit", "edgekit_predecoded", "edgekit_fp32", "naive", "anomalib"]
    result = _bench(kit, int8_bundle, tmp_path / "work", "--source", video)
    _assert_same_frames_everywhere(result, modes)
    setup = result["setup"]
    assert setup["source"] == str(video)
    assert (setup["source_kind"], setup["source_frames"], setup["frames"]) == ("video", 5, FRAMES)
    assert setup["decode_ms"] > 0
    assert setup["clip_decode_ms"] > 0
    # the FP32 twin and the per-position IRs were built in the work folder, never in the user's run
    assert Path(setup["fp32_bundle"]).is_relative_to(tmp_path / "work")
    assert json.loads((Path(setup["fp32_bundle"]) / "manifest.json").read_text())["precision"] == "fp32"
    run = Path(setup["run"])
    assert not (run / "graph" / "positions").exists()
    r = result["ratios"]
    fps = {mode: figures["fps"] for mode, figures in result["modes"].items()}
    assert r["edgekit_vs_anomalib"] == pytest.approx(fps["edgekit"] / fps["anomalib"], rel=1e-2)
    assert r["edgekit_fp32_vs_anomalib"] == pytest.approx(fps["edgekit_fp32"] / fps["anomalib"], rel=1e-2)
    assert r["edgekit_predecoded_vs_bound"] == pytest.approx(fps["edgekit_predecoded"] / fps["bound"], rel=1e-2)
    assert r["int8_vs_fp32"] == pytest.approx(fps["edgekit_predecoded"] / fps["edgekit_fp32"], rel=1e-2)
    assert r["fused_vs_naive"] == pytest.approx(fps["edgekit_fp32"] / fps["naive"], rel=1e-2)
    # the runtime modes keep capture -> result apart from the common latency, which it includes
    for mode in ("edgekit", "edgekit_predecoded", "edgekit_fp32"):
        figures = result["modes"][mode]
        assert figures["latency_capture_to_result_ms"]["p50"] >= figures["latency_ms"]["p50"], mode
        assert figures["skipped"] == 0
    assert "| anomalib |" in result["markdown"]


@pytest.mark.slow
def test_image_folder_source_of_another_size(kit: SimpleNamespace, int8_bundle: Path, tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for i in range(3):
        assert cv2.imwrite(str(folder / f"{i}.png"), kit.texture(rng, 96))
    modes = ["bound", "edgekit", "edgekit_predecoded"]
    result = _bench(kit, int8_bundle, tmp_path / "work", "--source", folder, "--modes", ",".join(modes))
    _assert_same_frames_everywhere(result, modes)
    setup = result["setup"]
    assert (setup["source_kind"], setup["source_frames"], setup["source_hw"]) == ("folder", 3, [96, 96])
    assert np.load(tmp_path / "work" / "frames" / "frames.npy").shape == (FRAMES + WARMUP, kit.size, kit.size, 3)
    assert setup["run"] is None  # none of these modes needs the training run
    assert result["ratios"]["edgekit_predecoded_vs_bound"] > 0


def test_default_source_is_the_demo_video_next_to_the_data(
    kit: SimpleNamespace, int8_bundle: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    video = kit.write_video(data / "stream.avi", [kit.texture(np.random.default_rng(i)) for i in range(3)])
    (data / "stream.json").write_text(json.dumps({"video": "stream.avi"}))
    bundle = _bundle_copy(int8_bundle, tmp_path, data=str(data))
    result = _bench(kit, bundle, tmp_path / "work", "--modes", "bound")
    assert result["setup"]["source"] == str(video)
    assert result["modes"]["bound"]["frames"] == FRAMES


def _bundle_copy(bundle: Path, tmp_path: Path, **source: str) -> Path:
    """A copy of the bundle whose manifest's ``source`` fields are changed."""
    copy = Path(shutil.copytree(bundle, tmp_path / "bundle"))
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["source"].update(source)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    return copy


def test_no_source_and_no_demo_video_names_the_option(kit: SimpleNamespace, int8_bundle: Path, tmp_path: Path) -> None:
    line = kit.one_error_line(kit.invoke(["bench", int8_bundle, "--work", tmp_path / "w", "--no-progress"]))
    assert "--source" in line
    assert "no demo video" in line


@pytest.mark.parametrize("kind", ["missing", "garbage", "single_image"])
def test_bad_source_is_one_line(kit: SimpleNamespace, int8_bundle: Path, tmp_path: Path, kind: str) -> None:
    source = tmp_path / "nowhere.avi"
    if kind == "garbage":
        source.write_bytes(b"\x00not a video\xff" * 64)
    elif kind == "single_image":
        source = tmp_path / "one.png"
        assert cv2.imwrite(str(source), np.zeros((8, 8, 3), np.uint8))
    line = kit.one_error_line(
        kit.invoke(["bench", int8_bundle, "--source", source, "--work", tmp_path / "w", "--no-progress"])
    )
    assert str(source) in line
    assert "accepted" in line


def test_missing_run_is_one_line_for_the_modes_that_need_it(
    kit: SimpleNamespace, int8_bundle: Path, tmp_path: Path
) -> None:
    bundle = _bundle_copy(int8_bundle, tmp_path, run=str(tmp_path / "gone"))
    frames = tmp_path / "frames"
    frames.mkdir()
    assert cv2.imwrite(str(frames / "0.png"), kit.texture(np.random.default_rng(0)))
    for mode in ("naive", "anomalib", "edgekit_fp32"):
        args = ["bench", bundle, "--source", frames, "--modes", mode, "--work", tmp_path / "w", "--no-progress"]
        line = kit.one_error_line(kit.invoke(args))
        assert str(tmp_path / "gone") in line
        assert mode in line
    # the modes that need only the bundle still run
    result = _bench(kit, bundle, tmp_path / "w", "--source", frames, "--modes", "bound,edgekit_predecoded")
    assert [result["modes"][m]["frames"] for m in ("bound", "edgekit_predecoded")] == [FRAMES, FRAMES]


def test_unknown_mode_is_one_line(kit: SimpleNamespace, int8_bundle: Path, tmp_path: Path) -> None:
    args = ["bench", int8_bundle, "--modes", "bound,fastest", "--work", tmp_path / "w", "--no-progress"]
    line = kit.one_error_line(kit.invoke(args))
    assert "fastest" in line
    assert not (tmp_path / "w").exists()  # refused before anything is built


@pytest.mark.slow
@pytest.mark.usefixtures("quiet_workers")
def test_streams_play_the_frames_as_several_cameras_through_one_model(
    kit: SimpleNamespace, int8_bundle: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "shots"
    folder.mkdir()
    rng = np.random.default_rng(4)
    for i in range(3):
        assert cv2.imwrite(str(folder / f"{i}.png"), kit.texture(rng, kit.size))
    modes = ["bound", "edgekit_predecoded"]
    result = _bench(kit, int8_bundle, tmp_path / "work", "--source", folder, "--modes", ",".join(modes),
                    "--streams", 3)
    assert result["failed"] == [] and result["frames_differ"] == [] and result["setup"]["streams"] == 3
    bound, runtime = result["modes"]["bound"], result["modes"]["edgekit_predecoded"]
    assert bound["frames"] == FRAMES  # the bound is one stream
    assert runtime["frames"] == 3 * FRAMES and runtime["streams"] == 3 and runtime["batch"] == 1  # auto on CPU
    held = {int(k): v for k, v in runtime["batch_sizes"].items()}
    assert sum(k * v for k, v in held.items()) == 3 * (FRAMES + WARMUP)  # every frame of every stream, once


def test_streams_below_one_is_one_line(kit: SimpleNamespace, int8_bundle: Path, tmp_path: Path) -> None:
    args = ["bench", int8_bundle, "--streams", 0, "--work", tmp_path / "w", "--no-progress"]
    result = kit.invoke(args)
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith("error: --streams 0 is out of range")
