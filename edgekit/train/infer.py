"""Whole-frame prediction with a torch ensemble: tile, shared trunk, heads, join, score."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from edgekit.tiling import JoinWeights, ScoreRule, join_score, tile, untile
from edgekit.train.ensemble import TiledEnsemble


@dataclass(frozen=True)
class Predictions:
    """Joined predictions of a set of frames.

    Attributes:
        maps: ``float32 [M, H, W]`` joined anomaly maps (raw values).
        scores: ``float32 [M]`` frame scores by the score rule.
        tile_scores: ``float32 [M, N]`` the positions' own scores.
    """

    maps: np.ndarray
    scores: np.ndarray
    tile_scores: np.ndarray


def predict_frames(
    ensemble: TiledEnsemble,
    images: np.ndarray,
    *,
    rule: ScoreRule = ScoreRule.MAX,
    weights: JoinWeights | str | None = None,
    batch_frames: int = 2,
    progress: bool = False,
    desc: str = "predict",
) -> Predictions:
    """Run the ensemble on whole frames.

    Args:
        ensemble: The trained ensemble.
        images: ``uint8 [M, H, W, 3]`` BGR frames at the grid's image size.
        rule: How a frame's score is taken.
        weights: How overlapping tile maps are weighted in the join (default: the ensemble's own).
        batch_frames: Frames per forward pass.
        progress: Show a progress bar.
        desc: Progress bar label.

    Returns:
        Joined maps, frame scores and tile scores.
    """
    grid = ensemble.grid
    weights = JoinWeights(weights or ensemble.join_weights)
    maps = np.empty((len(images), *grid.image_hw), dtype=np.float32)
    scores = np.empty(len(images), dtype=np.float32)
    tile_scores = np.empty((len(images), grid.n_tiles), dtype=np.float32)
    bar = tqdm(total=len(images), desc=desc, unit="img", disable=not progress, leave=False)
    for start in range(0, len(images), batch_frames):
        batch = images[start : start + batch_frames]
        tiles = np.stack([tile(grid, frame) for frame in batch])
        tile_maps, t_scores = ensemble.predict_tiles(tiles, batch_frames=batch_frames)
        for j, frame_maps in enumerate(tile_maps):
            joined = untile(grid, frame_maps, weights)
            maps[start + j] = joined
            scores[start + j] = join_score(joined, frame_maps, rule)
        tile_scores[start : start + len(batch)] = t_scores
        bar.update(len(batch))
    bar.close()
    return Predictions(maps=maps, scores=scores, tile_scores=tile_scores)
