"""``--score z_coverage``: the run, its graph and its exported bundle score frames by the one numpy rule."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

pytestmark = pytest.mark.slow


def test_z_coverage_run_and_bundle_score_by_the_numpy_rule(known_data: Path, edgekit, tmp_path: Path) -> None:
    run, bundle = tmp_path / "run", tmp_path / "bundle"
    result = edgekit(
        ["train", "--data", known_data, "--out", run, "--image-size", "128", "--tile-size", "64", "--stride", "32",
         "--score", "z_coverage", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    join = json.loads((run / "training.json").read_text())["graph"]["join"]
    assert join["score_rule"] == "z_coverage" and len(join["z_reference"]) == 3  # fitted per group
    result = edgekit(["export", run, "--out", bundle, "--precision", "fp32"])
    assert result.exit_code == 0, result.output
    manifest_join = json.loads((bundle / "manifest.json").read_text())["join"]
    assert manifest_join["score_rule"] == "z_coverage" and manifest_join["z_reference"] == join["z_reference"]

    from edgekit.runtime import load
    from edgekit.tiling import coverage_groups, coverage_z, fit_coverage_reference
    from edgekit.train.infer import predict_frames
    from edgekit.train.run_io import load_run

    record, ensemble = load_run(run)
    paths = sorted((known_data / "test").glob("*/*.png"))
    frames = np.stack([cv2.imread(str(p)) for p in paths])
    want = predict_frames(ensemble, frames)
    groups = coverage_groups(record.grid)
    assert len(groups) == 3  # corners, edges, centre of the 3x3 grid
    reference = tuple(tuple(pair) for pair in join["z_reference"])
    rule = [coverage_z(m, groups, reference) for m in want.maps]
    np.testing.assert_allclose(want.scores, rule, rtol=1e-4)  # the graph's score is the numpy rule's
    assert not np.allclose(want.scores, want.maps.reshape(len(frames), -1).max(1))  # and not the maximum
    engine = load(bundle)
    t = engine.manifest.thresholds
    labels = [engine.predict(frame).label for frame in frames]
    for i, frame in enumerate(frames):
        got = engine.predict(frame).score
        want_score = np.clip((want.scores[i] - t.image_threshold) / (t.image_max - t.image_min) + 0.5, 0, 1)
        assert got == pytest.approx(float(want_score), abs=1e-3)
    truth = np.array([p.parent.name != "good" for p in paths])
    assert want.scores[truth].min() > 3 * want.scores[~truth].max()  # big black squares: far apart
    assert all(np.array(labels)[truth])  # every defective frame flagged (the threshold is a quantile of 2 frames)
    # the reference is the good validation frames' (held out from training: 2 of the 8 good images)
    val = [cv2.imread(str(known_data / "train" / "good" / Path(f).name)) for f in record.data["val_files"]]
    fitted = fit_coverage_reference(predict_frames(ensemble, np.stack(val)).maps, groups)
    np.testing.assert_allclose(fitted, reference, rtol=1e-6)
    # a frame anomalous everywhere (the lens covered) is flagged, though its own median is as high as its peak
    for dead in (np.zeros_like(frames[0]), np.full_like(frames[0], 255)):
        assert engine.predict(dead).label is True
