"""A ``--padim-embedding orthogonal`` run keeps its projection in the run, and its bundle agrees with torch."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("tiling", ["image", "features"])
def test_orthogonal_run_exports_a_bundle_that_agrees_with_the_torch_run(
    known_data: Path, edgekit, tmp_path: Path, tiling: str
) -> None:
    run, bundle = tmp_path / "run", tmp_path / "bundle"
    result = edgekit(
        ["train", "--data", known_data, "--out", run, "--image-size", "128", "--tile-size", "64", "--stride", "32",
         "--tiling", tiling, "--padim-embedding", "orthogonal", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads((run / "training.json").read_text())["options"]["padim_embedding"] == "orthogonal"
    result = edgekit(["export", run, "--out", bundle, "--precision", "fp32"])
    assert result.exit_code == 0, result.output

    import torch
    from safetensors.torch import load_file

    from edgekit.runtime import load
    from edgekit.train.infer import predict_frames
    from edgekit.train.run_io import load_run

    _, ensemble = load_run(run)
    proj = ensemble.positions[0].proj
    saved = load_file(str(next(run.glob("positions/*.safetensors"))))
    assert proj.shape == (50, 152) and torch.equal(saved["proj"], proj)  # stored, not redrawn
    paths = sorted((known_data / "test").glob("*/*.png"))
    frames = np.stack([cv2.imread(str(p)) for p in paths])
    want = predict_frames(ensemble, frames)
    engine = load(bundle)
    t = engine.manifest.thresholds
    labels = []
    for i, frame in enumerate(frames):  # as the export parity tests compare: normalized the runtime's way
        result = engine.predict(frame)
        want_map = np.clip((want.maps[i] - t.pixel_threshold) / (t.pixel_max - t.pixel_min) + 0.5, 0, 1)
        assert float(np.abs(result.anomaly_map - want_map).max()) <= 1e-3
        want_score = np.clip((want.scores[i] - t.image_threshold) / (t.image_max - t.image_min) + 0.5, 0, 1)
        assert result.score == pytest.approx(float(want_score), abs=1e-3)
        labels.append(result.label)
    assert labels == (want.scores > t.image_threshold).tolist() and set(labels) == {True, False}
