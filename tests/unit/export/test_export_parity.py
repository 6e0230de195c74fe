"""The FP32 bundle gives the PyTorch ensemble's maps and scores on whole frames.

Torch side: the run reloaded from its files (``load_run``: anomalib's own per-position PaDiM models and
2-D Gaussian blur) through ``predict_frames``. OpenVINO side: the bundle through the runtime's
``Engine`` (uint8 BGR tiles in, preprocessing in the graph, fused batched head, separable blur), and
its raw tile maps joined with ``edgekit.tiling.untile``.

Tolerance: every joined-map pixel within 1e-3 of the torch map's range, and the frame score within
1e-3 relative. Float32 differences (oneDNN vs torch kernels, batched vs per-position MatMul, the
separable blur) are measured at about 1e-5 of the range; a wrong normalization, colour order,
layout or position order gives errors of the order of the range itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgekit.tiling import ScoreRule, untile

MAP_RTOL = 1e-3
SCORE_RTOL = 1e-3


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

    record, ensemble = load_run(tiny_run)
    want = predict_frames(ensemble, frames, rule=ScoreRule(record.score_rule))
    engine = Engine(fp32_bundle)
    request = engine.compiled.create_infer_request()
    for i, frame in enumerate(frames):
        tile_maps = request.infer({0: engine.tile_into(frame)})[engine.compiled.outputs[0]]
        got_map = untile(engine.grid, tile_maps)
        span = float(want.maps[i].max() - want.maps[i].min())
        assert span > 0
        err = float(np.abs(got_map - want.maps[i]).max())
        assert err <= MAP_RTOL * span, f"frame {i}: map differs by {err:.3g} (range {span:.3g})"
        result = engine.predict(frame)
        assert result.raw_score == pytest.approx(float(want.scores[i]), rel=SCORE_RTOL)
        assert result.raw_score == pytest.approx(float(got_map.max()), rel=1e-6)  # score rule: max of joined map


def test_fp32_bundle_scores_rank_defects_above_good(fp32_bundle: Path, frames: np.ndarray) -> None:
    """A sanity anchor for the parity above: the frames are not all the same to the model."""
    from edgekit.runtime.engine import Engine

    engine = Engine(fp32_bundle)
    scores = [engine.predict(f).raw_score for f in frames]
    assert len(set(np.round(scores, 3))) == len(scores)
