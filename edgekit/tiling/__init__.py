"""Stateless tiling: cut frames into tile batches and join tile maps back (numpy only)."""

from edgekit.tiling.grid import TileGrid, axis_starts, parse_size, size_text
from edgekit.tiling.ops import (
    JoinOrder,
    JoinWeights,
    ScoreRule,
    coverage_groups,
    coverage_z,
    fit_coverage_reference,
    join_score,
    seam_mask,
    smooth_seams,
    tile,
    tile_views,
    tile_weights,
    untile,
)

__all__ = [
    "JoinOrder",
    "JoinWeights",
    "ScoreRule",
    "TileGrid",
    "axis_starts",
    "coverage_groups",
    "coverage_z",
    "fit_coverage_reference",
    "join_score",
    "parse_size",
    "seam_mask",
    "size_text",
    "smooth_seams",
    "tile",
    "tile_views",
    "tile_weights",
    "untile",
]
