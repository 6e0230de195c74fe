"""A ``--tiling features`` run converts, exports and runs like any other: the bundle agrees with torch."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("model", ["padim", "patchcore"])
def test_features_tiling_bundle_agrees_with_the_torch_run(known_data: Path, edgekit, tmp_path: Path, model: str):
    run, bundle = tmp_path / "run", tmp_path / "bundle"
    result = edgekit(
        ["train", "--data", known_data, "--out", run, "--model", model, "--image-size", "128", "--tile-size", "64",
         "--stride", "32", "--tiling", "features", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    record = json.loads((run / "training.json").read_text())
    assert record["graph"]["join"]["tiling"] == "features" and record["options"]["tiling"] == "features"
    if model == "padim":  # one Gaussian per frame location, listed and hashed; positions keep only idx
        assert record["shared"]["path"] == "shared.safetensors"
        assert (run / "shared.safetensors").stat().st_size == record["shared"]["bytes"]
        assert max(record["position_state_bytes"]) < 1024 < record["shared"]["bytes"]
        assert "MiB shared" in result.output
    else:
        assert record["shared"] is None
    result = edgekit(["export", run, "--out", bundle, "--precision", "fp32"])
    assert result.exit_code == 0, result.output

    from edgekit.runtime import load
    from edgekit.train.infer import predict_frames
    from edgekit.train.run_io import load_run

    paths = sorted((known_data / "test").glob("*/*.png"))
    frames = np.stack([cv2.imread(str(p)) for p in paths])
    _, ensemble = load_run(run)
    assert ensemble.tiling == "features"
    raw = predict_frames(ensemble, frames)
    engine = load(bundle)
    results = [engine.predict(f) for f in frames]
    th = json.loads((bundle / "manifest.json").read_text())["thresholds"]
    labels = raw.scores >= th["image_threshold"]
    assert [r.label for r in results] == labels.tolist()
    assert {r.label for r in results} == {True, False}
    if model == "padim":  # no model per tile to benchmark against: bench refuses those modes in one line
        from edgekit.artifacts.manifest import EnsembleManifest
        from edgekit.bench.inputs import training_run
        from edgekit.errors import ConfigError

        manifest = EnsembleManifest.load(bundle)
        with pytest.raises(ConfigError, match=r"once per frame location .* modes naive, anomalib .* accepted: --modes"):
            training_run(bundle, manifest, ("edgekit", "naive", "anomalib"))
        assert training_run(bundle, manifest, ("edgekit_fp32",)).resolve() == run.resolve()
    if model == "padim":  # the shared file is checked like every other
        from edgekit.errors import ArtifactError

        shared = run / "shared.safetensors"
        shared.write_bytes(shared.read_bytes()[:-8] + b"\0" * 8)
        with pytest.raises(ArtifactError, match=r"shared\.safetensors"):
            load_run(run)
