"""The tiled ensemble in torch: one shared frozen trunk, one anomalib model per tile position.

Tensor layout: a batch of ``B`` frames gives tiles ``[B, N, T, T, 3]`` uint8 BGR (from
:func:`edgekit.tiling.tile`); the trunk sees them as ``[B*N, 3, T, T]`` normalized RGB, frame-major,
so position ``p`` of frame ``b`` is row ``b*N + p``. Maps come back as ``[B, N, T, T]``.
"""

from __future__ import annotations

import copy
import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from edgekit._extras import require
from edgekit.tiling import JoinWeights, TileGrid
from edgekit.train.backbones import load_into_features_only
from edgekit.train.config import TrainConfig
from edgekit.train.families import family_for
from edgekit.train.families.base import Family, Features, check_layers, truncate_efficientnet

if TYPE_CHECKING:
    import torch

torch = require("torch", "train")
logger = logging.getLogger(__name__)

IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)

#: Input pixels per trunk call outside tracing (about 32 tiles of 256): bounds the trunk's
#: activations whatever the number of frames x positions, or the size of a whole frame.
TRUNK_PIXELS = 2 * 2**20


def feature_tiling_problem(ensemble: TiledEnsemble) -> str | None:
    """Why ``--tiling features`` can't be built for this ensemble's grid, or None if it can.

    Every layer's stride s must divide the frame and every tile edge, so that a position's region of
    the frame's feature map has exactly the shape its tile's own features would have.
    """
    h, w = ensemble.grid.image_hw
    with torch.no_grad():
        full = ensemble.family.features(ensemble.trunk, torch.zeros(1, 3, h, w))
    for name, value in full.items():
        fh, fw = value.shape[-2:]
        s = h // fh
        if fh * s != h or fw * s != w:
            return f"layer {name}'s feature map {fh}x{fw} is not the {h}x{w} frame at one stride"
        edges = {v for box in ensemble.grid.boxes for v in box}
        off = sorted(v for v in edges if v % s)
        if off:
            return f"tile edges {off[:4]} of {ensemble.grid} do not fall on layer {name}'s stride-{s} feature grid"
    return None


#: ``--tiling auto`` takes ``features`` for PaDiM where image tiling's per-position Gaussians would
#: pass this and features tiling would hold at most half as much (the tiles overlap). At 2448x2048
#: (285 positions, 2.8 GB of state) image tiling peaked at 15.3 GB in training and ``features`` at
#: 6.4 GB, with the same test AUPRO on coins (0.988 / 0.987); at 512 px (9 positions, 90 MiB) image
#: tiling scores 0.005-0.027 higher AUPRO (benchmarks/README.md).
AUTO_FEATURES_STATE_BYTES = 2**30


def auto_tiling(ensemble: TiledEnsemble) -> tuple[str, str]:
    """The tiling ``--tiling auto`` resolves to for this ensemble, and why (for the log and record).

    Args:
        ensemble: The built, untrained ensemble.

    Returns:
        ``("image" | "features", reason)``.
    """
    if not ensemble.family.frame_state:
        return "image", "auto: image (features tiling is chosen automatically for PaDiM only)"
    t_h, t_w = ensemble.grid.tile_hw
    with torch.no_grad():
        feats = ensemble.family.features(ensemble.trunk, torch.zeros(1, 3, t_h, t_w))
        emb = ensemble.positions[0].generate_embedding(feats)
    channels, locations = emb.shape[1], emb.shape[2] * emb.shape[3]
    per_location = channels * (channels + 1) * 4
    state = ensemble.n_positions * locations * per_location
    stride = t_h // emb.shape[2]
    frame_state = (ensemble.grid.image_hw[0] // stride) * (ensemble.grid.image_hw[1] // stride) * per_location
    held = f"image tiling would hold {state / 2**20:.0f} MiB of Gaussians in {ensemble.n_positions} positions"
    if state <= AUTO_FEATURES_STATE_BYTES:
        return "image", f"auto: image ({held}, within {AUTO_FEATURES_STATE_BYTES / 2**30:g} GiB)"
    if 2 * frame_state > state:  # tiles barely overlap: one Gaussian per frame location saves little
        return "image", f"auto: image ({held}; features would hold {frame_state / 2**20:.0f} MiB, not half)"
    problem = feature_tiling_problem(ensemble)
    if problem is not None:
        return "image", f"auto: image although {held}: features cannot be built ({problem})"
    return "features", f"auto: features ({held}; features holds {frame_state / 2**20:.0f} MiB, one per frame location)"


def to_input(tiles_bgr: np.ndarray) -> torch.Tensor:
    """uint8 BGR ``[..., T, T, 3]`` tiles -> normalized float RGB ``[M, 3, T, T]``.

    This is the preprocessing the exported graph bakes in (BGR->RGB, /255, ImageNet mean/std).

    Args:
        tiles_bgr: Tiles with any leading dims.

    Returns:
        Float32 tensor with the leading dims flattened.
    """
    t = torch.from_numpy(np.ascontiguousarray(tiles_bgr.reshape(-1, *tiles_bgr.shape[-3:])))
    t = t.flip(-1).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(IMAGENET_MEAN_RGB).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD_RGB).view(1, 3, 1, 1)
    return (t - mean) / std


class TiledEnsemble(torch.nn.Module):
    """N anomalib models, one per tile position, sharing one frozen trunk.

    Args:
        family: The model family (PaDiM, PatchCore, ...).
        grid: The tile grid.
        positions: One anomalib torch model per position, all sharing ``trunk``.
        trunk: The frozen pretrained part.
    """

    def __init__(
        self, family: Family, grid: TileGrid, positions: list[torch.nn.Module], trunk: torch.nn.Module
    ) -> None:
        super().__init__()
        self.family = family
        self.grid = grid
        self.trunk = trunk
        self.positions = torch.nn.ModuleList(positions)
        self.join_weights = JoinWeights.UNIFORM
        #: Head state fitted once for all positions (PaDiM's per-frame-location Gaussians with
        #: ``--tiling features``); empty when every position owns its state.
        self.shared: dict[str, torch.Tensor] = {}
        #: Computes the trunk's features outside tracing instead of torch (see :mod:`edgekit.train.ov_trunk`).
        self.trunk_runner: Any = None
        #: Why ``--tiling auto`` resolved as it did (:func:`auto_tiling`); empty for a stated tiling.
        self.tiling_why = ""
        #: How tile maps become a frame map and score (see :mod:`edgekit.train.graph`); set by training
        #: once the join order is resolved, and by ``load_run`` from the record.
        self.join: dict[str, object] = {
            "order": "tile",
            "weights": "uniform",
            "score_rule": "max",
            "seam_width": 0,
            "seam_sigma": 2.0,
        }

    @classmethod
    def build(cls, config: TrainConfig, *, pretrained: bool = True) -> TiledEnsemble:
        """Create the ensemble for ``config`` with the pretrained trunk loaded (offline).

        Args:
            config: The training configuration.
            pretrained: Load the backbone's pretrained weights (False when a run's saved trunk
                will be loaded instead).

        Returns:
            The untrained ensemble.
        """
        check_layers(config.backbone, config.layers)
        family = family_for(config)
        grid = config.grid
        first = family.new_model()
        trunk = family.trunk_of(first)
        if pretrained:
            load_into_features_only(trunk, config.backbone, config.weights)
        truncate_efficientnet(trunk, config.layers)
        trunk.eval()
        for p in trunk.parameters():
            p.requires_grad_(False)
        if family.trained:  # each student, flow or decoder starts from random weights of its own
            positions = [first, *(family.new_model() for _ in range(1, grid.n_tiles))]
        else:
            # Positions own no trained weights, so a fresh model is the same every time (PaDiM draws its
            # feature subset from the run's seed): copy the first one without its trunk instead of
            # building N-1 backbones only to drop them (285 lite0 builds took 85 s of loading a 5 MP run).
            family.share_trunk(first, torch.nn.Identity())
            positions = [first, *(copy.deepcopy(first) for _ in range(1, grid.n_tiles))]
        for model in positions:
            family.share_trunk(model, trunk)
        ensemble = cls(family, grid, positions, trunk)
        ensemble.join_weights = config.join_weights
        ensemble.join = {
            "order": "tile" if config.join_order == "auto" else config.join_order,
            "weights": config.join_weights.value,
            "score_rule": config.score_rule.value,
            "seam_width": config.seam_width,
            "seam_sigma": config.seam_sigma,
            "tiling": config.tiling,
        }
        if config.tiling == "auto":
            ensemble.join["tiling"], ensemble.tiling_why = auto_tiling(ensemble)
        return ensemble

    @property
    def n_positions(self) -> int:
        """Number of tile positions."""
        return len(self.positions)

    def trunk_features(self, x: torch.Tensor) -> Features:
        """The trunk on ``[M, 3, h, w]`` inputs, in calls of at most :data:`TRUNK_PIXELS` (one call when traced)."""
        if torch.jit.is_tracing():  # the graph: torch's own trunk, one call
            return self.family.features(self.trunk, x)
        per_call = max(1, TRUNK_PIXELS // (x.shape[-2] * x.shape[-1]))
        run = self.trunk_runner or (lambda t: self.family.features(self.trunk, t))
        with torch.no_grad():
            if x.shape[0] <= per_call:
                return run(x)
            parts = [run(x[i : i + per_call]) for i in range(0, x.shape[0], per_call)]
        return {k: torch.cat([part[k] for part in parts]) for k in parts[0]}

    def shared_features(self, x: torch.Tensor) -> Features:
        """The trunk's pass over ``[B*N, 3, T, T]`` tiles, once for all positions."""
        return self.trunk_features(x)

    @property
    def fits_per_frame_location(self) -> bool:
        """True where training fits the heads' state once per frame location (``features`` tiling, PaDiM)."""
        return self.tiling == "features" and self.family.frame_state

    @property
    def frame_level(self) -> bool:
        """True where the heads' state is per frame location (held in :attr:`shared`), not per position."""
        return bool(self.shared)

    @property
    def tiling(self) -> str:
        """Where the trunk runs: ``image`` (on every tile) or ``features`` (once on the whole frame).

        With ``features`` each position reads its region of the frame's feature maps: no overlap
        recomputed, no zero padding at tile borders. Kept in ``join`` so that the record and the
        graph carry it.
        """
        return str(self.join.get("tiling", "image"))

    def tiles_of(self, frames: torch.Tensor) -> torch.Tensor:
        """Tiles ``[B*N, 3, T, T]``, frame-major, cut from normalized frames ``[B, 3, H, W]`` by static slices."""
        t_h, t_w = self.grid.tile_hw
        boxes = [tuple(int(v) for v in box) for box in self.grid.boxes]
        return torch.stack([frames[:, :, y0:y1, x0:x1] for y0, x0, y1, x1 in boxes], dim=1).reshape(-1, 3, t_h, t_w)

    def frame_features(self, frames: torch.Tensor) -> Features:
        """The trunk once on whole normalized frames, cut into every position's region: ``[B*N, C, t, t]``.

        The grid must suit it (:func:`feature_tiling_problem`; training checks before fitting).
        """
        full = self.trunk_features(frames)
        h = frames.shape[-2]
        out = {}
        for name, value in full.items():
            s = h // value.shape[-2]
            crops = [value[:, :, y0 // s : y1 // s, x0 // s : x1 // s] for y0, x0, y1, x1 in self.grid.boxes]
            stacked = torch.stack(crops, dim=1)
            out[name] = stacked.reshape(-1, *stacked.shape[2:])
        return out

    def position_inputs(self, frames: torch.Tensor) -> tuple[Features, torch.Tensor]:
        """Every position's features and tiles, frame-major, from normalized frames ``[B, 3, H, W]``."""
        tiles = self.tiles_of(frames)
        feats = self.frame_features(frames) if self.tiling == "features" else self.shared_features(tiles)
        return feats, tiles

    def slice_position(self, feats: Features, x: torch.Tensor, p: int) -> tuple[Features, torch.Tensor]:
        """Features and tiles of position ``p`` from a frame-major ``[B*N, ...]`` batch."""
        n = self.n_positions
        return {k: v[p::n].contiguous() for k, v in feats.items()}, x[p::n].contiguous()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Tile maps and scores of a batch of frames.

        Args:
            x: ``[B*N, 3, T, T]`` normalized tiles, frame-major.

        Returns:
            Maps ``[B, N, T, T]`` and tile scores ``[B, N]``.

        Raises:
            ValueError: The heads' state is per frame location (``--tiling features``): use whole frames.
        """
        if self.frame_level:
            msg = "this ensemble's heads are fitted per frame location (--tiling features): predict on whole frames"
            raise ValueError(msg)
        feats = self.shared_features(x)
        maps, scores = [], []
        for p, model in enumerate(self.positions):
            f, t = self.slice_position(feats, x, p)
            amap, score = self.family.predict(model, f, t)
            maps.append(amap[:, 0])
            scores.append(score.reshape(-1))
        return torch.stack(maps, dim=1), torch.stack(scores, dim=1)

    def predict_tiles(self, tiles_bgr: np.ndarray, batch_frames: int = 2) -> tuple[np.ndarray, np.ndarray]:
        """Maps and scores for uint8 BGR tiles ``[M, N, T, T, 3]`` (M frames).

        Args:
            tiles_bgr: The frames' tiles.
            batch_frames: Frames per forward pass.

        Returns:
            ``float32 [M, N, T, T]`` maps and ``float32 [M, N]`` tile scores.
        """
        self.eval()
        maps, scores = [], []
        with torch.no_grad():
            for i in range(0, len(tiles_bgr), batch_frames):
                m, s = self(to_input(tiles_bgr[i : i + batch_frames]))
                maps.append(m.numpy())
                scores.append(s.numpy())
        return np.concatenate(maps), np.concatenate(scores)
