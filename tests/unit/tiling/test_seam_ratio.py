"""The seam ratio: steps across tile edges against steps across control lines of the same grid phase."""

from __future__ import annotations

import numpy as np

from edgekit.evaluation import seam_ratio

EDGES = (128, 256, 384)
MIDLINES = (64, 192, 320, 448)


def _maps(seam: float) -> np.ndarray:
    """Good maps with a ripple of period 64 (steps on every 64th line, as an upsampled feature grid has)."""
    rng = np.random.default_rng(0)
    x = np.arange(512)
    profile = np.cumsum(np.where(x % 64 == 0, 2.0, 0.0)) + np.where(x >= 128, seam, 0.0) * (x // 128)
    maps = profile[None, None, :] + 0.1 * rng.standard_normal((4, 512, 512))
    return np.ascontiguousarray(maps + maps.transpose(0, 2, 1))


def test_no_seam_reads_one_against_controls_but_not_against_all_pixels() -> None:
    maps, labels = _maps(0.0), np.zeros(4, int)
    with_controls = seam_ratio(maps, labels, EDGES, MIDLINES)
    plain = seam_ratio(maps, labels, EDGES)
    assert 0.9 < with_controls["seam_ratio_x"] < 1.1 and 0.9 < with_controls["seam_ratio_y"] < 1.1
    assert plain["seam_ratio_x"] > 5  # the grid's own steps dominate the all-pixel reference


def test_a_seam_at_the_edges_shows_against_controls() -> None:
    ratio = seam_ratio(_maps(2.0), np.zeros(4, int), EDGES, MIDLINES)
    assert ratio["seam_ratio_x"] > 1.5 and ratio["seam_ratio_y"] > 1.5


def test_defective_images_are_left_out_and_missing_lines_give_nan() -> None:
    maps = _maps(0.0)
    maps[1] += np.where(np.arange(512) >= 256, 100.0, 0.0)[None, :]  # a huge step on a defective image
    labels = np.array([0, 1, 0, 0])
    assert seam_ratio(maps, labels, EDGES, MIDLINES)["seam_ratio_x"] < 1.1
    assert np.isnan(seam_ratio(maps, labels, (), MIDLINES)["seam_ratio_x"])
    assert np.isnan(seam_ratio(maps, labels, EDGES, (600,))["seam_ratio_x"])
