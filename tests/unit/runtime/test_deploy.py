"""deploy/: the OVMS config and the KServe InferenceService name and find what the export writes."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from edgekit.artifacts.manifest import EnsembleManifest
from edgekit.export.ovms import write_ovms_repository

DEPLOY = Path(__file__).parents[3] / "deploy"
SCHEMA = Path(__file__).parents[2] / "data" / "ovms_config_schema.json"


def _repository(bundle_dir: Path, tmp_path: Path, name: str) -> Path:
    return write_ovms_repository(bundle_dir, tmp_path / "models", name, EnsembleManifest.load(bundle_dir))


def test_the_ovms_config_is_valid_and_points_at_the_exported_model(bundle_dir, tmp_path):
    config = json.loads((DEPLOY / "ovms" / "config.json").read_text())
    jsonschema.validate(config, json.loads(SCHEMA.read_text()))
    (entry,) = config["model_config_list"]
    cfg = entry["config"]
    repo = _repository(bundle_dir, tmp_path, cfg["name"])
    mounted = Path(cfg["base_path"]).relative_to("/models")  # the container mounts the repository at /models
    version = repo / mounted / "1"
    assert sorted(p.name for p in version.iterdir()) == ["ensemble.bin", "ensemble.xml"]
    exported = json.loads((repo / "config.json").read_text())["model_config_list"][0]["config"]
    assert cfg["plugin_config"] == exported["plugin_config"]  # the bundle's f32 and the hint
    assert cfg["target_device"] == exported["target_device"]


def test_the_inference_service_serves_the_same_model_over_v2(bundle_dir, tmp_path):
    service = yaml.safe_load((DEPLOY / "kserve" / "inferenceservice.yaml").read_text())
    assert service["apiVersion"] == "serving.kserve.io/v1beta1" and service["kind"] == "InferenceService"
    predictor = service["spec"]["predictor"]
    model = predictor["model"]
    assert model["protocolVersion"] == "v2" and model["modelFormat"]["name"] == "openvino_ir"
    assert 1 <= predictor["minReplicas"] <= predictor["maxReplicas"]
    args = dict(arg.lstrip("-").split("=", 1) for arg in model["args"])
    ovms = json.loads((DEPLOY / "ovms" / "config.json").read_text())["model_config_list"][0]["config"]
    assert args["model_name"] == ovms["name"] == service["metadata"]["name"]
    assert json.loads(args["plugin_config"]) == ovms["plugin_config"]
    assert int(args["nireq"]) == ovms["nireq"] and args["target_device"] == ovms["target_device"]
    # storageUri names the model's folder of the exported repository: the one that holds version 1
    folder = model["storageUri"].rstrip("/").rsplit("/", 1)[-1]
    repo = _repository(bundle_dir, tmp_path, args["model_name"])
    assert (repo / folder / "1" / "ensemble.xml").is_file() and (repo / folder / "1" / "ensemble.bin").is_file()
