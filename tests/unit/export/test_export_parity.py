"""The FP32 bundle gives the PyTorch ensemble's maps and scores on whole frames.

Torch side: the run reloaded from its files (``load_run``: anomalib's own per-position PaDiM models)
through ``predict_frames`` (the whole-frame graph in torch), normalized here with anomalib's formula
written out in numpy. OpenVINO side: the stored IR through the runtime's ``Engine`` (uint8 BGR frames
in, preprocessing specialized at load, tiling, fused head, join, score, normalization in the graph).

Tolerance: normalized map pixels and scores within 1e-3 (the range is [0, 1]). Float32 differences
(oneDNN vs torch kernels, batched vs per-position MatMul, the separable blur) are measured at about
1e-5; a wrong normalization, colour order, layout or position order gives errors of order 0.1-1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

TOL = 1e-3


def _normalize(x: np.ndarray, threshold: float, lo: float, hi: float) -> np.ndarray:
    return np.clip((x - threshold) / (hi - lo) + 0.5, 0.0, 1.0)


@pytest.fixture(scope="module")
def frames(tiny_run: Path, tiny_data: Path) -> np.ndarray:
    """A good and two defective test frames at the grid's image size (uint8 BGR)."""
    from edgekit.artifacts.record import TrainingRecord
    from edgekit.data import load_split, scan_dataset

    grid = TrainingRecord.load(tiny_run).grid
    test = scan_dataset(tiny_data).test
    picks = [next(s for s in test if s.label == 0), *[s for s in test if s.label == 1][::3][:2]]
    return load_split(picks, grid.image_hw, min_hw=grid.tile_hw).images


def test_fp32_bundle_matches_the_torch_ensemble(tiny_run: Path, fp32_bundle: Path, frames: np.ndarray) -> None:
    from edgekit.runtime.engine import Engine
    from edgekit.train.infer import predict_frames
    from edgekit.train.run_io import load_run

    _, ensemble = load_run(tiny_run)
    want = predict_frames(ensemble, frames)
    engine = Engine(fp32_bundle)
    t = engine.manifest.thresholds
    for i, frame in enumerate(frames):
        result = engine.predict(frame)
        want_map = _normalize(want.maps[i], t.pixel_threshold, t.pixel_min, t.pixel_max)
        assert want_map.max() > 0 and want_map.min() < 1  # not all clipped: the comparison has content
        err = float(np.abs(result.anomaly_map - want_map).max())
        assert err <= TOL, f"frame {i}: map differs by {err:.3g}"
        want_score = float(_normalize(want.scores[i], t.image_threshold, t.image_min, t.image_max))
        assert result.score == pytest.approx(want_score, abs=TOL)
        assert result.label == (want.scores[i] > t.image_threshold)
        assert np.array_equal(result.mask, want.maps[i] > t.pixel_threshold) or (
            np.mean(result.mask != (want.maps[i] > t.pixel_threshold)) < 1e-3  # float ties at the threshold
        )


def test_fp32_bundle_scores_rank_defects_above_good(fp32_bundle: Path, frames: np.ndarray) -> None:
    """A sanity anchor for the parity above: the frames are not all the same to the model."""
    from edgekit.runtime.engine import Engine

    engine = Engine(fp32_bundle)
    scores = [engine.predict(f).score for f in frames]
    assert len(set(np.round(scores, 4))) == len(scores)
