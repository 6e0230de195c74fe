"""The stored IR is a standard anomaly model: OpenVINO Model API and anomalib's OpenVINOInferencer run it as it is.

A freshly exported INT8 bundle is fed the same PNG frames by Model API's ``AnomalyDetection``
(a BGR uint8 array), anomalib's ``OpenVINOInferencer`` (the PNG path) and ``edgekit run`` (the
folder): pred_score within 1e-3, the same label, anomaly_map within 1/255 (Model API returns it as
uint8). All three run on the CPU in f32: this CPU's default is bf16, which moves PaDiM's distances
by about 1 % (edgekit's runtime asks for f32 as the bundle says; the others take a plugin option).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

pytestmark = pytest.mark.slow

F32 = {"INFERENCE_PRECISION_HINT": "f32"}


@pytest.fixture(scope="module")
def exported(padim_run: Path, tmp_path_factory: pytest.TempPathFactory, edgekit) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("standard")
    bundle, ovms = root / "bundle", root / "ovms"
    result = edgekit(["export", padim_run, "--out", bundle, "--ovms", ovms, "--name", "squares"])
    assert result.exit_code == 0, result.output
    return bundle, ovms


@pytest.fixture(scope="module")
def frames(known_data: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("frames")
    paths = sorted((known_data / "test").glob("*/*.png"))
    out = []
    for i, path in enumerate(paths):  # one folder, in a known order, for edgekit run
        out.append(Path(shutil.copy(path, folder / f"{i:03d}.png")))
    return out


@pytest.fixture(scope="module")
def edgekit_results(exported, frames, edgekit, tmp_path_factory) -> tuple[list[dict], list]:
    from edgekit.runtime import load

    bundle, _ = exported
    out = tmp_path_factory.mktemp("run") / "out"
    result = edgekit(["run", bundle, "--source", frames[0].parent, "--out", out])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    engine = load(bundle)
    maps = [engine.predict(cv2.imread(str(p))).anomaly_map for p in frames]
    return lines, maps


def test_model_api_runs_the_stored_ir_and_agrees_with_edgekit_run(exported, frames, edgekit_results):
    from model_api.adapters import OpenvinoAdapter, create_core
    from model_api.models import AnomalyDetection, Model

    bundle, _ = exported
    lines, maps = edgekit_results
    adapter = OpenvinoAdapter(create_core(), str(bundle / "ensemble.xml"), device="CPU", plugin_config=F32)
    model = Model.create_model(adapter)
    assert isinstance(model, AnomalyDetection)  # chosen from rt_info model_info, not named by us
    labels = set()
    for path, line, amap in zip(frames, lines, maps, strict=True):
        result = model(cv2.imread(str(path)))
        assert result.pred_score == pytest.approx(line["score"], abs=1e-3)
        assert (result.pred_label == "True") == (line["label"] == "anomalous")
        assert np.abs(result.anomaly_map.astype(np.float32) / 255.0 - amap).max() <= 1 / 255 + 1e-6
        labels.add(result.pred_label)
    assert labels == {"True", "False"}  # the frames hold both kinds: the comparison is not vacuous


def test_anomalib_inferencer_runs_the_stored_ir_and_agrees_with_edgekit_run(
    exported, frames, edgekit_results, tmp_path, monkeypatch
):
    from anomalib.deploy import OpenVINOInferencer

    monkeypatch.chdir(tmp_path)  # the inferencer writes ./openvino_cache
    bundle, _ = exported
    lines, maps = edgekit_results
    inferencer = OpenVINOInferencer(bundle / "ensemble.xml", device="CPU", config=F32)
    for path, line, amap in zip(frames, lines, maps, strict=True):
        result = inferencer.predict(path)
        assert float(result.pred_score[0]) == pytest.approx(line["score"], abs=1e-3)
        assert bool(result.pred_label[0]) == (line["label"] == "anomalous")
        assert np.abs(np.asarray(result.anomaly_map)[0, 0] - amap).max() <= 1 / 255


def test_the_stored_ir_describes_itself(exported):
    import openvino as ov

    bundle, _ = exported
    model = ov.Core().read_model(bundle / "ensemble.xml")
    assert [sorted(p.get_names()) for p in model.inputs] == [["input"]]
    assert list(model.input(0).get_shape()) == [1, 3, 128, 128]  # static batch of 1
    assert [sorted(p.get_names()) for p in model.outputs] == [
        ["pred_score"], ["pred_label"], ["anomaly_map"], ["pred_mask"]
    ]
    info = {k: model.get_rt_info(["model_info", k]).astype(str) for k in (
        "model_type", "labels", "task", "reverse_input_channels", "scale_values", "image_threshold"
    )}
    assert info == {
        "model_type": "AnomalyDetection",
        "labels": "Normal Anomaly",
        "task": "segmentation",
        "reverse_input_channels": "True",
        "scale_values": "255 255 255",
        "image_threshold": "0.5",
    }


def test_the_ovms_repository_has_the_documented_layout_and_schema(exported):
    import jsonschema

    bundle, ovms = exported
    schema = json.loads((Path(__file__).parents[1] / "data" / "ovms_config_schema.json").read_text())
    config = json.loads((ovms / "config.json").read_text())
    jsonschema.validate(config, schema)
    (entry,) = config["model_config_list"]
    cfg = entry["config"]
    assert cfg["name"] == "squares" and cfg["base_path"] == "squares"
    assert cfg["shape"] == "(1,3,128,128)" and cfg["plugin_config"]["INFERENCE_PRECISION_HINT"] == "f32"
    version = ovms / cfg["base_path"] / "1"  # relative base_path: OVMS resolves it against config.json's folder
    assert sorted(p.name for p in version.iterdir()) == ["ensemble.bin", "ensemble.xml"]
    for name in ("ensemble.xml", "ensemble.bin"):
        assert (version / name).read_bytes() == (bundle / name).read_bytes()
    # the schema is real: a key OVMS does not know is refused
    bad = {"model_config_list": [{"config": {**cfg, "color_format": "RGB:BGR"}}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_the_stored_ir_reshapes_to_several_frames_per_call(exported, frames, edgekit_results):
    """One stored IR (batch 1) serves B frames per call once specialized at load, with the same results."""
    import openvino as ov

    from edgekit.artifacts.ir import specialize

    bundle, _ = exported
    lines, maps = edgekit_results
    core = ov.Core()
    compiled = core.compile_model(specialize(core.read_model(bundle / "ensemble.xml"), batch=4), "CPU", F32)
    batch = np.stack([cv2.imread(str(p)) for p in frames[:4]])
    out = compiled({0: batch})
    assert out["pred_score"].shape == (4,) and out["anomaly_map"].shape == (4, 1, 128, 128)
    for i in range(4):
        assert float(out["pred_score"][i]) == pytest.approx(lines[i]["score"], abs=1e-3)
        assert np.abs(out["anomaly_map"][i, 0] - maps[i]).max() <= 1e-3


@pytest.mark.parametrize(("protocol", "form"), [("http", "png"), ("grpc", "fp32"), ("http", "uint8")])
def test_edgekit_serve_agrees_with_edgekit_run(exported, frames, edgekit_results, tmp_path, protocol, form):
    """The exported bundle behind ``edgekit serve``: tritonclient's answers equal ``edgekit run``'s (<= 1e-3)."""
    import importlib.util

    if importlib.util.find_spec("kserve") is None:
        pytest.skip("kserve is not installed: pip install 'edgekit[serve]'")
    import tritonclient.grpc as grpc
    import tritonclient.http as http
    from oip_server import Served

    from edgekit.artifacts.ir import to_input

    bundle, _ = exported
    lines, _maps = edgekit_results
    images = [cv2.imread(str(p)) for p in frames[:8]]
    if form == "png":
        array, datatype = np.array([p.read_bytes() for p in frames[:8]], dtype=np.object_), "BYTES"
    elif form == "fp32":
        array, datatype = to_input(np.stack(images)), "FP32"
    else:
        array, datatype = np.stack(images), "UINT8"
    served = Served(bundle, tmp_path / "server.log").start()
    try:
        module = http if protocol == "http" else grpc
        client = module.InferenceServerClient(served.http if protocol == "http" else served.grpc)
        tensor = module.InferInput("input", list(array.shape), datatype)
        tensor.set_data_from_numpy(array, **({"binary_data": True} if protocol == "http" else {}))
        answer = client.infer("edgekit", [tensor])
        scores = answer.as_numpy("pred_score")
        labels = answer.as_numpy("pred_label")
    finally:
        assert served.stop() == 0, served.log()
    np.testing.assert_allclose(scores, [line["score"] for line in lines[:8]], atol=1e-3)
    assert [bool(x) for x in labels] == [line["label"] == "anomalous" for line in lines[:8]]
    assert len({bool(x) for x in labels}) == 2  # both labels among the frames
