"""The INT8 bundle: accuracy against FP32, a manifest that describes everything, an IR that describes itself."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

import edgekit
from edgekit.artifacts.files import sha256_file
from edgekit.artifacts.manifest import MANIFEST_NAME, EnsembleManifest
from edgekit.artifacts.record import TrainingRecord

ov = pytest.importorskip("openvino")

METRICS = ("image_auroc", "image_f1", "pixel_auroc", "pixel_aupro")
# Loose on purpose: 12 validation frames, and a tiny model (see conftest). The 512 px demo run
# loses 0.005 pixel AUPRO and no image AUROC.
MAX_DELTA = {"image_auroc": 0.1, "pixel_aupro": 0.1}


@pytest.fixture(scope="module")
def bundle(int8_export: tuple[Path, list[logging.LogRecord]]) -> Path:
    return int8_export[0]


@pytest.fixture(scope="module")
def manifest(bundle: Path) -> EnsembleManifest:
    return EnsembleManifest.load(bundle)


def test_int8_accuracy_delta_within_bounds(manifest: EnsembleManifest) -> None:
    acc = manifest.accuracy
    assert set(acc) >= {"split", "n_frames", "fp32", "int8", "delta"}
    for key in METRICS:
        assert acc["delta"][key] == pytest.approx(acc["int8"][key] - acc["fp32"][key])
    for key, bound in MAX_DELTA.items():
        assert abs(acc["delta"][key]) <= bound, f"{key}: fp32 {acc['fp32'][key]:.3f} -> int8 {acc['int8'][key]:.3f}"
    assert acc["fp32"]["image_auroc"] > 0.6, "the tiny model must detect something for the check to mean anything"


def test_manifest_has_every_field_of_the_issue(bundle: Path, manifest: EnsembleManifest, tiny_run: Path) -> None:
    data = json.loads((bundle / MANIFEST_NAME).read_text())
    record = TrainingRecord.load(tiny_run)
    grid = record.grid
    h, w = grid.image_hw
    assert data["schema_version"] == 1
    assert data["versions"]["edgekit"] == edgekit.__version__
    assert {"openvino", "nncf"} <= set(data["versions"])
    assert manifest.grid == grid
    want_input = {"name": "input", "shape": [1, 3, h, w], "dtype": "f32", "layout": "NCHW", "color": "RGB"}
    assert {k: data["input"][k] for k in want_input} == want_input and data["input"]["range"] == [0.0, 1.0]
    want_outputs = {"pred_score": [1], "pred_label": [1], "anomaly_map": [1, 1, h, w], "pred_mask": [1, 1, h, w]}
    assert data["outputs"] == want_outputs
    assert {f["path"] for f in data["files"]} == {"ensemble.xml", "ensemble.bin"}
    for f in data["files"]:
        assert f["sha256"] == sha256_file(bundle / f["path"])
        assert f["bytes"] == (bundle / f["path"]).stat().st_size
    assert data["precision"] == "int8"
    assert data["join"]["score_rule"] == record.score_rule
    assert {"seam_width", "seam_sigma", "weights"} <= set(data["join"])
    assert data["join"]["order"] == record.graph["join"]["order"] == "frame"  # PaDiM on a grid of 1/8 steps
    thr = data["thresholds"]
    assert {"image_min", "image_max", "pixel_min", "pixel_max", "image_threshold", "pixel_threshold"} <= set(thr)
    assert thr["pixel_min"] < thr["pixel_max"]
    assert thr["image_min"] < thr["image_max"]
    assert thr["method"] in {"f1_adaptive", "normal_quantile"}
    assert set(data["accuracy"]["delta"]) == set(METRICS)
    assert data["sizes"]["ir_bytes"] == sum(f["bytes"] for f in data["files"])
    assert data["sizes"]["fp32_graph_bytes"] == sum(f.bytes for f in record.graph_files)
    assert data["quantization"]["method"].startswith("nncf.quantize")
    assert data["accuracy"]["budget"] == {"image_auroc": 0.01, "pixel_aupro": 0.02}
    assert data["quantization"]["inference_precision"] == "f32"
    assert data["source"]["record_sha256"] == sha256_file(tiny_run / "training.json")


def test_ir_describes_itself(bundle: Path, manifest: EnsembleManifest) -> None:
    model = ov.Core().read_model(bundle / "ensemble.xml")

    def info(key: str) -> str:
        return model.get_rt_info(["model_info", key]).astype(str)

    assert info("model_type") == "AnomalyDetection"  # what OpenVINO Model API's create_model looks for
    assert float(info("image_threshold")) == 0.5 and float(info("pixel_threshold")) == 0.5  # normalized outputs
    assert float(info("edgekit_raw_image_threshold")) == pytest.approx(manifest.thresholds.image_threshold)
    assert float(info("edgekit_raw_pixel_threshold")) == pytest.approx(manifest.thresholds.pixel_threshold)
    assert info("edgekit_precision") == "int8"
    assert str(list(manifest.grid.tile_hw)) in info("edgekit_grid").replace("(", "[").replace(")", "]")
    (param,) = model.inputs
    assert param.get_element_type() == ov.Type.f32
    assert param.get_partial_shape().is_static, "Model API, OVMS and NPU expect a static batch of 1"
    assert list(param.get_partial_shape().to_shape()) == manifest.input["shape"]
    assert param.get_names() == {"input"}
    assert [list(o.get_partial_shape().to_shape()) for o in model.outputs] == list(manifest.outputs.values())
    assert [o.get_names() for o in model.outputs] == [{k} for k in manifest.outputs]


def _is_head(op: object) -> bool:
    """The heads' ops: distance MatMul, upsampling, blur, the z_coverage score, and PaDiM's ops at the head's level.

    The trunk's ops are named ``__module.padim.first.feature_extractor...`` (the fused head holds the first
    position model, which owns the shared trunk), so "padim" in a name alone does not make an op a head op.
    """
    name = op.get_friendly_name()
    head_prefixes = (
        "__module.padim/",
        "__module.padim.blur/",
        "__module.blur/",
        "__module.join/",
        "__module.z/",
        "aten::",
    )
    return op.get_type_name() in {"MatMul", "Interpolate"} or name.startswith(head_prefixes)


def test_trunk_is_quantized_and_heads_stay_float(bundle: Path) -> None:
    model = ov.Core().read_model(bundle / "ensemble.xml")
    ops = model.get_ops()

    def quantized_input(op: object) -> bool:
        return any(i.get_source_output().get_node().get_type_name() == "FakeQuantize" for i in op.inputs())

    convs = [op for op in ops if op.get_type_name() in {"Convolution", "GroupConvolution"} and not _is_head(op)]
    assert sum(map(quantized_input, convs)) >= 0.8 * len(convs), "the trunk is mostly not quantized"
    head = [op for op in ops if _is_head(op)]
    assert {op.get_type_name() for op in head} >= {"MatMul", "Interpolate", "Convolution", "TopK", "MaxPool"}
    assert [op.get_friendly_name() for op in head if quantized_input(op)] == []


def test_smaller_calibration_set_is_used_and_reported(
    int8_export: tuple[Path, list[logging.LogRecord]], manifest: EnsembleManifest, tiny_run: Path
) -> None:
    n_train = TrainingRecord.load(tiny_run).data["n_train"]
    q = manifest.quantization
    assert q["calibration_frames_asked"] == 2 * n_train  # what the conftest asked
    assert q["calibration_frames"] == n_train < q["calibration_frames_asked"]
    warnings = [r.getMessage() for r in int8_export[1] if r.name == "edgekit.export.calibration"]
    assert len(warnings) == 1
    assert f"{n_train} training frames available, {2 * n_train} asked" in warnings[0]
