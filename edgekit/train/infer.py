"""Whole-frame prediction with a torch ensemble, through the run's :class:`~edgekit.train.graph.FrameGraph`.

The same module that is converted to the stored IR computes training's validation maps and scores,
so thresholds are fitted on exactly the maps the exported model makes (up to float rounding).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from edgekit._extras import require
from edgekit.train.ensemble import TiledEnsemble
from edgekit.train.graph import FrameGraph, frame_graph

torch = require("torch", "train")


@dataclass(frozen=True)
class Predictions:
    """Joined predictions of a set of frames.

    Attributes:
        maps: ``float32 [M, H, W]`` joined anomaly maps (raw values).
        scores: ``float32 [M]`` frame scores by the score rule.
    """

    maps: np.ndarray
    scores: np.ndarray


def to_frames(images_bgr: np.ndarray) -> torch.Tensor:
    """uint8 BGR ``[M, H, W, 3]`` -> float RGB ``[M, 3, H, W]`` in [0, 1] (the stored IR's input)."""
    t = torch.from_numpy(np.ascontiguousarray(images_bgr))
    return t.flip(-1).permute(0, 3, 1, 2).float().div_(255.0)


def graph_of(ensemble: TiledEnsemble) -> FrameGraph:
    """The ensemble's whole-frame graph for its join description (built once, kept on the ensemble)."""
    graph = getattr(ensemble, "_frame_graph", None)
    if graph is None or graph.join_key != tuple(sorted(ensemble.join.items())):
        graph = frame_graph(ensemble, ensemble.join)
        graph.join_key = tuple(sorted(ensemble.join.items()))
        object.__setattr__(ensemble, "_frame_graph", graph)
    return graph


def predict_frames(
    ensemble: TiledEnsemble,
    images: np.ndarray,
    *,
    batch_frames: int = 2,
    progress: bool = False,
    desc: str = "predict",
) -> Predictions:
    """Run the ensemble on whole frames.

    Args:
        ensemble: The trained ensemble (its ``join`` says how tiles are joined and scored).
        images: ``uint8 [M, H, W, 3]`` BGR frames at the grid's image size.
        batch_frames: Frames per forward pass.
        progress: Show a progress bar.
        desc: Progress bar label.

    Returns:
        Joined raw maps and frame scores.
    """
    graph = graph_of(ensemble)
    maps = np.empty((len(images), *ensemble.grid.image_hw), dtype=np.float32)
    scores = np.empty(len(images), dtype=np.float32)
    bar = tqdm(total=len(images), desc=desc, unit="img", disable=not progress, leave=False)
    with torch.no_grad():
        for start in range(0, len(images), batch_frames):
            batch = images[start : start + batch_frames]
            amap, score = graph(to_frames(batch))
            maps[start : start + len(batch)] = amap[:, 0].numpy()
            scores[start : start + len(batch)] = score.numpy()
            bar.update(len(batch))
    bar.close()
    return Predictions(maps=maps, scores=scores)
