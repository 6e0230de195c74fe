"""Engine: one frame in, one FrameResult out; frame conversion and resizing; devices and compile configs."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

from edgekit.devices import PerformanceHint
from edgekit.errors import ArtifactError, DataError, DeviceError
from edgekit.runtime import Engine, FrameResult, load


@pytest.fixture(scope="module")
def engine(bundle_dir):
    return load(bundle_dir)


def test_a_dark_square_is_anomalous_with_a_box_around_it(engine, kit):
    result = engine.predict(kit.square_frame(), index=7, timestamp=1.5)
    assert isinstance(result, FrameResult)
    assert (result.index, result.timestamp) == (7, 1.5)
    assert result.label and result.score > 0.5
    # raw score 255, threshold 180, image range 100..255: anomalib's normalization gives 75/155 + 0.5
    assert result.score == pytest.approx(75 / 155 + 0.5, abs=1e-6)
    y0, x0, size = kit.SQUARE
    assert len(result.boxes) == 1
    box = result.boxes[0]
    assert (box.x0, box.y0, box.x1, box.y1) == (x0, y0, x0 + size, y0 + size)
    assert box.area == size * size and box.score > 0.5
    assert result.mask.sum() == size * size and result.mask[y0 : y0 + size, x0 : x0 + size].all()
    assert result.anomaly_map.shape == kit.GRID.image_hw and result.anomaly_map.dtype == np.float32
    assert result.anomaly_map.min() >= 0.0 and result.anomaly_map.max() <= 1.0
    assert {"prep", "infer", "post", "e2e"} <= set(result.timings_ms)


def test_a_square_across_the_tile_seams_gives_one_box(engine, kit):
    frame = kit.gray_frame()
    frame[28:36, 28:36] = 0  # the middle of the 2x2 grid: a piece in every tile
    result = engine.predict(frame)
    assert result.label
    assert [(b.x0, b.y0, b.x1, b.y1) for b in result.boxes] == [(28, 28, 36, 36)]


def test_a_uniform_frame_is_normal(engine, kit):
    result = engine.predict(kit.gray_frame())
    assert not result.label and result.score < 0.5
    assert result.boxes == () and not result.mask.any()
    assert result.to_json()["label"] == "normal"


@pytest.mark.parametrize("form", ["gray", "gray1", "bgra"])
def test_gray_and_bgra_frames_give_the_bgr_result(engine, kit, form):
    bgr = kit.square_frame()
    frame = {
        "gray": cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY),
        "gray1": cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)[..., None],
        "bgra": cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA),
    }[form]
    expected = engine.predict(bgr)
    result = engine.predict(frame)
    assert result.label and result.boxes == expected.boxes
    assert result.score == pytest.approx(expected.score)
    np.testing.assert_allclose(result.anomaly_map, expected.anomaly_map, atol=1e-6)


def test_another_size_is_resized_with_one_warning(bundle_dir, kit, caplog):
    engine = load(bundle_dir)
    big = cv2.resize(kit.square_frame(), (128, 128), interpolation=cv2.INTER_NEAREST)
    with caplog.at_level(logging.WARNING, logger="edgekit.runtime"):
        results = [engine.predict(big, index=i) for i in range(4)]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "128x128" in warnings[0].getMessage()
    y0, x0, size = kit.SQUARE
    for result in results:
        assert result.label and result.source_hw == (128, 128)
        assert [(b.x0, b.y0, b.x1, b.y1) for b in result.boxes] == [(x0, y0, x0 + size, y0 + size)]
        assert result.anomaly_map.shape == kit.GRID.image_hw


def test_strict_refuses_another_size_in_one_line(bundle_dir, kit):
    engine = load(bundle_dir, strict=True)
    with pytest.raises(DataError) as info:
        engine.predict(kit.gray_frame(hw=(48, 80)))
    message = str(info.value)
    assert "\n" not in message and "48x80" in message and "64x64" in message and "--strict" in message


def test_unusable_frames_are_refused_in_one_line(engine):
    with pytest.raises(DataError) as info:
        engine.predict(np.zeros((64, 64, 3), dtype=np.float32))
    assert "float32" in str(info.value) and "\n" not in str(info.value)


def test_a_tampered_bundle_is_refused_naming_the_file(bundle_copy):
    weights = bundle_copy / "ensemble.bin"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match=r"ensemble\.bin") as info:
        Engine(bundle_copy)
    assert "\n" not in str(info.value)


def test_an_unknown_device_is_refused_listing_the_available_ones(bundle_dir, kit):
    core = kit.RecordingCore(devices=("CPU",))
    with pytest.raises(DeviceError) as info:
        Engine(bundle_dir, "NPU", core=core)
    assert "'NPU'" in str(info.value) and "available: CPU" in str(info.value)
    assert core.compiled == []


def test_a_device_that_fails_to_compile_is_one_line_with_the_reason(bundle_dir, kit):
    reason = "GPU plugin: CL_OUT_OF_RESOURCES while building kernel fully_connected_gpu"
    core = kit.RecordingCore(
        fail=(
            "Exception from src/inference/src/cpp/core.cpp:117:\n"
            "Exception from src/plugins/intel_gpu/src/plugin/plugin.cpp:201:\n"
            f"{reason}\n\n\n"
        )
    )
    with pytest.raises(DeviceError) as info:
        Engine(bundle_dir, "GPU", core=core)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("device GPU failed to compile the bundle") and message.endswith(reason)


def test_gpu_compiles_with_the_cache_and_its_own_precision(bundle_dir, kit, tmp_path):
    core = kit.RecordingCore(devices=("CPU", "GPU"))
    engine = Engine(bundle_dir, "gpu", cache_dir=tmp_path / "cache", hint=PerformanceHint.THROUGHPUT, core=core)
    (model, device, config) = core.compiled[0]
    # the stored IR, specialized at load: raw uint8 BGR frames in, one per call
    assert model.input(0).get_element_type().get_type_name() == "u8"
    assert list(model.input(0).get_shape()) == [1, 64, 64, 3]
    assert device == "GPU" and engine.device == "GPU"
    assert config == {"PERFORMANCE_HINT": "THROUGHPUT", "CACHE_DIR": str(tmp_path / "cache")}
    assert engine.predict(kit.square_frame()).label  # the (really CPU-compiled) model runs


def test_npu_compiles_with_the_cache(bundle_dir, kit, tmp_path):
    core = kit.RecordingCore(devices=("CPU", "NPU"))
    Engine(bundle_dir, "NPU", cache_dir=tmp_path / "cache", core=core)
    (_, device, config) = core.compiled[0]
    assert device == "NPU"
    assert config.get("CACHE_DIR") == str(tmp_path / "cache") and "INFERENCE_PRECISION_HINT" not in config


def test_cpu_compiles_in_the_bundles_precision_without_a_cache(bundle_dir, kit, tmp_path):
    core = kit.RecordingCore(devices=("CPU", "GPU"))
    Engine(bundle_dir, "CPU", cache_dir=tmp_path / "cache", core=core)
    (_, device, config) = core.compiled[0]
    assert device == "CPU"
    assert config == {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}


def test_a_non_finite_result_fails_the_frame_never_a_normal_label(tmp_path, kit):
    from edgekit.runtime.engine import FrameError

    engine = load(kit.write_bundle(tmp_path / "nan", nan=True))
    assert not engine.predict(kit.gray_frame()).label  # finite frames still work
    with pytest.raises(FrameError) as info:
        engine.predict(kit.gray_frame(255))  # white: the model returns NaN
    message = str(info.value)
    assert "\n" not in message and "non-finite" in message and "frame 0" in message


def test_auto_keeps_the_bundles_f32_for_the_cpu_inside_it(bundle_dir, kit):
    core = kit.RecordingCore(devices=("CPU", "GPU"))
    Engine(bundle_dir, "AUTO", core=core)
    (_, device, config) = core.compiled[0]
    assert device == "AUTO"
    assert config["DEVICE_PROPERTIES"] == {"CPU": {"INFERENCE_PRECISION_HINT": "f32"}}
    assert "INFERENCE_PRECISION_HINT" not in config  # a GPU picked by AUTO keeps its own f16


@pytest.mark.parametrize(("device", "static"), [("CPU", False), ("NPU", True)])
def test_a_batch_engine_takes_up_to_b_frames_per_call(bundle_dir, kit, device, static):
    core = kit.RecordingCore(devices=("CPU", "NPU"))
    engine = Engine(bundle_dir, device, batch=3, core=core)
    (model, _, _) = core.compiled[0]
    shape = model.input(0).get_partial_shape()
    assert str(shape[0]) == ("3" if static else "1..3")  # NPU: static B; CPU: bounded dynamic batch
    tensor = engine.batch_tensor([kit.gray_frame(), kit.square_frame()])
    assert tensor.shape == ((3 if static else 2), 64, 64, 3)  # NPU pads a short call


def test_batch_out_of_range_is_one_line(bundle_dir):
    from edgekit.errors import ConfigError

    with pytest.raises(ConfigError, match="batch 0 is out of range"):
        Engine(bundle_dir, batch=0)
