"""The ensemble as one whole-frame model: the single definition of tiling, heads, join and score.

``FrameGraph`` takes whole frames ``float32 [B, 3, H, W]`` RGB in [0, 1] (anomalib's export
convention) and returns the raw joined anomaly map ``[B, 1, H, W]`` and the raw frame score
``[B]``. Inside: ImageNet normalization, tiling by the run's :class:`~edgekit.tiling.TileGrid`
(static slices, the last tile snapped), the shared trunk once on all ``B*N`` tiles, the
per-position heads, the join (overlap weights, optional seam smoothing) and the score rule.

Training evaluates with this module in torch (thresholds, metrics), and ``RUN/graph/frame.xml`` is
its OpenVINO conversion, which the export stage quantizes and finishes with the normalization,
label and mask (``edgekit.export.post``). So evaluation, the export check, the runtime and the
bench all get their numbers from one definition.

Join order (:class:`~edgekit.tiling.JoinOrder`): ``FRAME`` joins each position's raw map at
feature resolution, then upsamples and blurs the joined frame map once; ``TILE`` is anomalib's
order (every tile map upsampled and blurred on its own, then joined at full resolution).

Exact rewrites, checked in tests: anomalib's 33x33 ``GaussianBlur2d`` as two 1-D convolutions,
and PaDiM's N Mahalanobis heads as one batched expression.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np

from edgekit._extras import require
from edgekit.errors import ConfigError
from edgekit.tiling import JoinOrder, JoinWeights, ScoreRule, TileGrid, coverage_groups, seam_mask, tile_weights
from edgekit.tiling.ops import MAD_SCALE, Z_EPS, Reference
from edgekit.train.config import ModelName
from edgekit.train.ensemble import IMAGENET_MEAN_RGB, IMAGENET_STD_RGB, TiledEnsemble

torch = require("torch", "train")
F = torch.nn.functional

#: Names of the stored graph's input and raw outputs (the export adds anomalib's four outputs).
INPUT_NAME = "input"
RAW_MAP = "raw_map"
RAW_SCORE = "raw_score"


class SeparableGaussianBlur(torch.nn.Module):
    """anomalib's ``GaussianBlur2d`` ("same", reflect) as two 1-D convolutions.

    Args:
        blur: The anomalib module to replace (its normalized 2-D kernel is an outer product).
    """

    def __init__(self, blur: torch.nn.Module) -> None:
        super().__init__()
        kernel = blur.kernel.detach()[0, 0]  # [kh, kw], sums to 1
        self.register_buffer("ky", kernel.sum(dim=1).reshape(1, 1, -1, 1).clone())
        self.register_buffer("kx", kernel.sum(dim=0).reshape(1, 1, 1, -1).clone())
        self.padding_shape = list(blur.padding_shape)
        self.border_type = blur.border_type

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Blur ``[B, 1, H, W]`` maps."""
        x = F.pad(x, self.padding_shape, mode=self.border_type)
        return F.conv2d(F.conv2d(x, self.kx), self.ky)


def _separable(blur: torch.nn.Module) -> torch.nn.Module:
    return blur if isinstance(blur, SeparableGaussianBlur) else SeparableGaussianBlur(blur)


def _swap_blurs(module: torch.nn.Module) -> None:
    """Replace every anomalib GaussianBlur2d inside ``module`` with the separable version."""
    blur_cls = require("anomalib.models.components.filters", "train").GaussianBlur2d
    for name, child in list(module.named_children()):
        if isinstance(child, blur_cls):
            setattr(module, name, SeparableGaussianBlur(child))
        else:
            _swap_blurs(child)


def _mahalanobis(delta: torch.Tensor, inv_cov: torch.Tensor) -> torch.Tensor:
    """``sqrt(max(d^T S^-1 d, 0))`` of ``delta [..., P, C]`` against ``inv_cov [..., P, C, C]`` -> ``[..., P]``."""
    d = delta.unsqueeze(-2)  # [..., P, 1, C]
    return (torch.matmul(d, inv_cov) * d).sum(dim=(-2, -1)).clamp(min=0).sqrt()


class PadimHeads(torch.nn.Module):
    """All N PaDiM heads as one batched Mahalanobis distance (any number of frames per call).

    Per position (``image`` tiling): the positions' Gaussians stacked, ``mean [N, C, P]`` and
    ``inv_cov [N, P, C, C]``. Per frame location (``features`` tiling, :attr:`frame_level`): the
    ensemble's shared Gaussians, ``mean [C, Hf*Wf]`` and ``inv_cov [Hf*Wf, C, C]``, stored once
    however many positions cover a patch.

    Args:
        ensemble: A fitted PaDiM ensemble (every position shares ``idx``).
    """

    def __init__(self, ensemble: TiledEnsemble) -> None:
        super().__init__()
        first = ensemble.positions[0]
        for model in ensemble.positions:
            if not torch.equal(model.idx, first.idx):
                msg = "PaDiM positions use different feature subsets; the fused head needs one shared idx"
                raise ValueError(msg)
        # not a registered submodule: its trunk is traced through ``ensemble.trunk``, so no trunk node
        # is named after the head (export quantizes the trunk only, by node name)
        object.__setattr__(self, "_first", first)
        self.n = ensemble.n_positions
        self.frame_level = ensemble.frame_level
        if self.frame_level:
            mean, inv = ensemble.shared["mean"], ensemble.shared["inv_covariance"]
            self.register_buffer("mean", mean.reshape(mean.shape[0], -1))  # [C, P]
            self.register_buffer("inv_cov", inv.reshape(-1, *inv.shape[-2:]))  # [P, C, C]
        else:
            self.register_buffer("mean", torch.stack([m.gaussian.mean for m in ensemble.positions]))  # [N, C, P]
            self.register_buffer(
                "inv_cov", torch.stack([m.gaussian.inv_covariance for m in ensemble.positions])
            )  # [N, P, C, C]
        self.blur = _separable(first.anomaly_map_generator.blur)

    def raw(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        """Distances ``[B*N, 1, h, w]`` at feature resolution from every position's features (per-position state)."""
        emb = self._first.generate_embedding(feats)  # [B*N, C, h, w]
        _, c, h, w = emb.shape
        delta = emb.reshape(-1, self.n, c, h * w) - self.mean.unsqueeze(0)  # [B, N, C, P]
        return _mahalanobis(delta.transpose(-2, -1), self.inv_cov.unsqueeze(0)).reshape(-1, 1, h, w)

    def frame_raw(self, full: dict[str, torch.Tensor]) -> torch.Tensor:
        """Distances ``[B, 1, Hf, Wf]`` of whole frames from the frame's feature maps (per-location state)."""
        emb = self._first.generate_embedding(full)  # [B, C, Hf, Wf]
        b, c, h, w = emb.shape
        delta = emb.reshape(b, c, h * w) - self.mean.unsqueeze(0)  # [B, C, P]
        return _mahalanobis(delta.transpose(-2, -1), self.inv_cov.unsqueeze(0)).reshape(b, 1, h, w)

    def upsample_blur(self, raw: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """The map anomalib makes from a raw one: bilinear upsample to ``size``, then its blur."""
        return self.blur(F.interpolate(raw, size=size, mode="bilinear", align_corners=False))

    def tile_maps(self, feats: dict[str, torch.Tensor], tile_hw: tuple[int, int]) -> torch.Tensor:
        """Maps ``[B*N, 1, T, T]``: anomalib's upsample and blur per tile."""
        return self.upsample_blur(self.raw(feats), tile_hw)


class CoverageZ(torch.nn.Module):
    """:attr:`ScoreRule.Z_COVERAGE` as graph ops: ``[B, 1, H, W]`` joined maps -> ``[B]`` scores.

    The same rule as :func:`edgekit.tiling.coverage_z` (checked in tests), from static slices of the
    groups' boxes. The maxima: one max-pool of the map in cells of the largest size every box edge falls
    on (128 px on the default grid), then a reduce-max over each box's cells, so the full-size map is read
    once, not once per box. The statistics: per group, the lower median of the sampled pixels and of
    their absolute deviations, each a top-k of the smallest values. The reference is two constants per
    group; no constant of the frame's size.

    Args:
        grid: The grid the map was joined on.
        single: One group for the whole frame (see :func:`edgekit.tiling.coverage_groups`).
        reference: The run's fitted ``(median, MAD)`` per group; None: the frame-relative term alone.
    """

    def __init__(self, grid: TileGrid, single: bool = False, reference: Reference | None = None) -> None:
        super().__init__()
        self.groups = coverage_groups(grid, single)
        self.cell = math.gcd(*grid.image_hw, *(v for g in self.groups for box in g.boxes for v in box))
        self.reference = None if reference is None else tuple((float(m), float(d)) for m, d in reference)
        if self.reference is not None and len(self.reference) != len(self.groups):
            msg = f"z_coverage reference has {len(self.reference)} groups, the grid {grid} has {len(self.groups)}"
            raise ConfigError(msg)

    @staticmethod
    def _lower_median(values: torch.Tensor) -> torch.Tensor:
        k = (values.shape[1] - 1) // 2
        return torch.topk(values, k + 1, dim=1, largest=False, sorted=True).values[:, k : k + 1]

    def forward(self, amap: torch.Tensor) -> torch.Tensor:
        """Scores ``[B]``."""
        c = self.cell
        cells = F.max_pool2d(amap, c) if c > 1 else amap  # [B, 1, H/c, W/c]; the channel is kept, not
        out = []  # selected: a select copies the whole map (4 ms at 5 MP), slices then flatten do not
        for g, group in enumerate(self.groups):
            tops = [
                cells[..., y0 // c : y1 // c, x0 // c : x1 // c].amax(dim=(-3, -2, -1))
                for y0, x0, y1, x1 in group.boxes
            ]
            top = torch.stack(tops, 1).amax(1)
            sub = amap[..., :: group.step, :: group.step]
            values = torch.cat([sub[..., a:c_, b:d].flatten(1) for a, b, c_, d in group.sub_boxes], 1)
            med = self._lower_median(values)
            mad = self._lower_median((values - med).abs())
            out.append((top - med[:, 0]) / (MAD_SCALE * mad[:, 0] + Z_EPS))
            if self.reference is not None:
                ref_med, ref_mad = self.reference[g]
                out.append((top - ref_med) / (MAD_SCALE * ref_mad + Z_EPS))
        return torch.stack(out, 1).amax(1)


class Join(torch.nn.Module):
    """Join ``[B, N, h, w]`` tile maps into ``[B, 1, H, W]`` by overlap-weighted averaging.

    The same rule as :func:`edgekit.tiling.untile` (checked in tests), as graph ops: each tile map
    is weighted, zero-padded to the frame at its static offsets and added; the sum is divided by
    the per-pixel weight total (a constant of the grid).

    Args:
        grid: The grid at the maps' resolution.
        weights: Overlap weighting.
    """

    def __init__(self, grid: TileGrid, weights: JoinWeights) -> None:
        super().__init__()
        self.boxes = [tuple(int(v) for v in box) for box in grid.boxes]
        self.image_hw = grid.image_hw
        per_tile, total = tile_weights(grid, JoinWeights(weights))
        self.weighted = JoinWeights(weights) is not JoinWeights.UNIFORM
        self.register_buffer("w", torch.from_numpy(np.asarray(per_tile, dtype=np.float32)).unsqueeze(1))
        self.register_buffer("inv_total", torch.from_numpy((1.0 / np.asarray(total)).astype(np.float32)))

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        """Joined maps ``[B, 1, H, W]`` from ``[B, N, h, w]``."""
        h, w = self.image_hw
        out = None
        for p, (y0, x0, y1, x1) in enumerate(self.boxes):
            m = maps[:, p : p + 1]
            if self.weighted:
                m = m * self.w[p]
            m = F.pad(m, (x0, w - x1, y0, h - y1))
            out = m if out is None else out + m
        return out * self.inv_total


class SeamSmoothing(torch.nn.Module):
    """Blur a band around interior tile edges, as :func:`edgekit.tiling.smooth_seams` does.

    Args:
        grid: The frame grid.
        width: Half-width of the band in pixels (>= 1).
        sigma: Gaussian sigma in pixels; the kernel size is OpenCV's for float images.
    """

    def __init__(self, grid: TileGrid, width: int, sigma: float) -> None:
        super().__init__()
        size = round(sigma * 4 * 2 + 1) | 1  # cv2.getGaussianKernel's size for float images
        x = np.arange(size, dtype=np.float64) - (size - 1) / 2
        k = np.exp(-(x**2) / (2 * sigma**2))
        k = (k / k.sum()).astype(np.float32)
        self.pad = size // 2
        self.register_buffer("ky", torch.from_numpy(k).reshape(1, 1, -1, 1))
        self.register_buffer("kx", torch.from_numpy(k).reshape(1, 1, 1, -1))
        self.register_buffer("band", torch.from_numpy(seam_mask(grid, width).astype(np.float32)))

    def forward(self, joined: torch.Tensor) -> torch.Tensor:
        """Smoothed ``[B, 1, H, W]``."""
        p = self.pad
        blurred = F.conv2d(F.conv2d(F.pad(joined, (p, p, p, p), mode="reflect"), self.kx), self.ky)
        return joined + (blurred - joined) * self.band


def feature_factor(ensemble: TiledEnsemble) -> int | None:
    """How many tile pixels one raw-map pixel covers, or None if the family has no raw map."""
    t_h, t_w = ensemble.grid.tile_hw
    with torch.no_grad():
        x = torch.zeros(1, 3, t_h, t_w)
        if ensemble.frame_level:  # the positions hold no state of their own; the raw map is the embedding's grid
            raw = ensemble.positions[0].generate_embedding(ensemble.shared_features(x))
        else:
            raw = ensemble.family.raw_map(ensemble.positions[0], ensemble.shared_features(x))
    if raw is None:
        return None
    h, w = raw.shape[-2:]
    if t_h % h or t_w % w or t_h // h != t_w // w:
        return None
    return t_h // h


def resolve_join_order(ensemble: TiledEnsemble, wanted: str, rule: ScoreRule) -> tuple[JoinOrder, str]:
    """The join order a run uses, and why.

    Args:
        ensemble: The ensemble.
        wanted: ``auto``, ``frame`` or ``tile``.
        rule: The score rule (``mean_of_tile_max`` needs the tile maps).

    Returns:
        The order and a sentence for the record.

    Raises:
        ConfigError: ``frame`` asked for where it cannot be built (the reason in one line).
    """
    if wanted == JoinOrder.TILE.value:
        return JoinOrder.TILE, "tile order asked for"
    reason = None
    factor = feature_factor(ensemble)
    if factor is None:
        reason = f"{ensemble.family.name.value} maps are not one feature map followed by upsampling"
    elif ensemble.grid.downscaled(factor) is None:
        reason = f"tile edges of {ensemble.grid} do not fall on the 1/{factor} feature grid"
    elif ScoreRule(rule) is ScoreRule.MEAN_OF_TILE_MAX:
        reason = "score rule mean_of_tile_max needs anomalib's per-tile maps"
    if reason is None:
        return JoinOrder.FRAME, f"joined at 1/{factor} feature resolution, one upsample and blur per frame"
    if wanted == JoinOrder.FRAME.value:
        msg = f"--join-order frame cannot be built: {reason}; accepted here: tile (or auto)"
        raise ConfigError(msg)
    return JoinOrder.TILE, f"tile order: {reason}"


class FrameGraph(torch.nn.Module):
    """The whole ensemble on whole frames: ``[B, 3, H, W]`` RGB in [0, 1] -> raw map and score.

    Args:
        ensemble: The trained ensemble.
        order: Where the tile maps are joined.
        weights: Overlap weighting of the join.
        rule: Frame score rule.
        seam_width: Half-width of the seam-smoothing band (0 = off).
        seam_sigma: Sigma of seam smoothing.
        z_reference: The fitted reference of ``z_coverage`` (see :class:`CoverageZ`).
    """

    def __init__(
        self,
        ensemble: TiledEnsemble,
        order: JoinOrder = JoinOrder.TILE,
        weights: JoinWeights = JoinWeights.UNIFORM,
        rule: ScoreRule = ScoreRule.MAX,
        seam_width: int = 0,
        seam_sigma: float = 2.0,
        z_reference: Reference | None = None,
    ) -> None:
        super().__init__()
        _swap_blurs(ensemble)
        self.ensemble = ensemble
        self.grid = ensemble.grid
        self.order = JoinOrder(order)
        self.rule = ScoreRule(rule)
        self.n = ensemble.n_positions
        self.boxes = [tuple(int(v) for v in box) for box in self.grid.boxes]
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN_RGB).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD_RGB).view(1, 3, 1, 1))
        self.padim = PadimHeads(ensemble) if ensemble.family.name is ModelName.PADIM else None
        if self.order is JoinOrder.FRAME:
            if self.rule is ScoreRule.MEAN_OF_TILE_MAX:
                msg = "score rule mean_of_tile_max needs join order tile"
                raise ConfigError(msg)
            factor = feature_factor(ensemble)
            small = self.grid.downscaled(factor) if factor else None
            if small is None:
                msg = f"join order frame is not possible for {ensemble.family.name.value} on {self.grid}"
                raise ConfigError(msg)
            self.join = Join(small, weights)
            self.blur = _separable(ensemble.family.map_blur(ensemble.positions[0]))
        else:
            self.join = Join(self.grid, weights)
        self.seams = SeamSmoothing(self.grid, seam_width, seam_sigma) if seam_width > 0 else None
        # per-frame-location state: every view of a pixel is one value, so one group (as training fits it)
        single = ensemble.frame_level
        self.z = CoverageZ(self.grid, single, z_reference) if self.rule is ScoreRule.Z_COVERAGE else None

    def tiles(self, frames: torch.Tensor) -> torch.Tensor:
        """Normalized tiles ``[B*N, 3, T, T]``, frame-major, cut by static slices."""
        return self.ensemble.tiles_of((frames - self.mean) / self.std)

    def _position_maps(self, feats: dict[str, torch.Tensor], tiles: torch.Tensor, raw: bool) -> torch.Tensor:
        """``[B*N, 1, h, w]`` maps of every position, frame-major."""
        ensemble, family = self.ensemble, self.ensemble.family
        out = []
        for p, model in enumerate(ensemble.positions):
            f, t = ensemble.slice_position(feats, tiles, p)
            out.append(family.raw_map(model, f) if raw else family.predict(model, f, t)[0])
        stacked = torch.stack(out, dim=1)  # [B, N, 1, h, w]
        return stacked.reshape(-1, *stacked.shape[2:])

    def _frame_level(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Joined map and tile maxima from per-frame-location PaDiM state (``features`` tiling).

        Every position's raw map is its window of one frame map, so the frame-order join (a weighted
        mean of equal values) is that map itself; tile order cuts the windows and joins as usual.
        """
        raw = self.padim.frame_raw(self.ensemble.trunk_features((frames - self.mean) / self.std))
        if self.order is JoinOrder.FRAME:
            return self.padim.upsample_blur(raw, self.grid.image_hw), None
        s = self.grid.image_hw[0] // raw.shape[-2]
        windows = torch.stack([raw[:, :, y0 // s : y1 // s, x0 // s : x1 // s] for y0, x0, y1, x1 in self.boxes], 1)
        t_maps = self.padim.upsample_blur(windows.reshape(-1, 1, *windows.shape[-2:]), self.grid.tile_hw)
        per_frame = t_maps.reshape(-1, self.n, *t_maps.shape[-2:])
        return self.join(per_frame), per_frame.amax(dim=(-2, -1))

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw joined map ``[B, 1, H, W]`` and raw score ``[B]``."""
        if self.padim is not None and self.padim.frame_level:
            amap, tile_max = self._frame_level(frames)
            return self._finish(amap, tile_max)
        feats, tiles = self.ensemble.position_inputs((frames - self.mean) / self.std)
        if self.order is JoinOrder.FRAME:
            raw = self.padim.raw(feats) if self.padim is not None else self._position_maps(feats, tiles, raw=True)
            low = self.join(raw.reshape(-1, self.n, *raw.shape[-2:]))
            amap = self.blur(F.interpolate(low, size=self.grid.image_hw, mode="bilinear", align_corners=False))
            tile_max = None
        else:
            t_maps = (
                self.padim.tile_maps(feats, self.grid.tile_hw)
                if self.padim is not None
                else self._position_maps(feats, tiles, raw=False)
            )
            per_frame = t_maps.reshape(-1, self.n, *t_maps.shape[-2:])
            amap = self.join(per_frame)
            tile_max = per_frame.amax(dim=(-2, -1))  # [B, N]
        return self._finish(amap, tile_max)

    def _finish(self, amap: torch.Tensor, tile_max: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Seam smoothing and the score rule."""
        if self.seams is not None:
            amap = self.seams(amap)
        if self.rule is ScoreRule.MEAN_OF_TILE_MAX:
            return amap, tile_max.mean(dim=1)
        if self.z is not None:
            return amap, self.z(amap)
        return amap, amap.amax(dim=(-3, -2, -1))


def frame_graph(ensemble: TiledEnsemble, join: dict[str, Any]) -> FrameGraph:
    """The run's :class:`FrameGraph` from its join description (the record's ``graph['join']``)."""
    return FrameGraph(
        ensemble,
        order=JoinOrder(join["order"]),
        weights=JoinWeights(join.get("weights", "uniform")),
        rule=ScoreRule(join.get("score_rule", "max")),
        seam_width=int(join.get("seam_width", 0)),
        seam_sigma=float(join.get("seam_sigma", 2.0)),
        z_reference=join.get("z_reference"),
    ).eval()


def _cosine_similarity(a: torch.Tensor, b: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """``F.cosine_similarity`` from primitive ops (OpenVINO has no conversion rule for the aten op)."""
    dot = (a * b).sum(dim)
    return dot / (a.norm(dim=dim).clamp_min(eps) * b.norm(dim=dim).clamp_min(eps))


@contextlib.contextmanager
def _convertible() -> Iterator[None]:
    """Conditions for ``ov.convert_model`` on anomalib modules.

    Reverse Distillation's map calls ``F.cosine_similarity``, which OpenVINO cannot convert: it is
    swapped for the same expression in primitive ops while converting. ``ov.convert_model`` also
    leaves the root logger at ERROR with an extra handler when a conversion fails; the logging
    state is put back either way.
    """
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        with mock.patch.object(F, "cosine_similarity", _cosine_similarity):
            yield
    finally:
        root.setLevel(level)
        root.handlers[:] = handlers


@contextlib.contextmanager
def _untraced_positions(module: torch.nn.Module) -> Iterator[None]:
    """Hide a PaDiM frame graph's position models from the tracer while converting.

    The fused PaDiM head reads only its stacked (or shared) buffers and the first position's
    embedding rule; the N position models are not called. ``torch.jit.trace`` still wraps every
    registered submodule, and each position holds the shared trunk: with 285 positions (5 MP) that
    was more than half of a nine-minute conversion. Other families call their positions and keep them.
    """
    ensemble = getattr(module, "ensemble", None)
    if getattr(module, "padim", None) is None or ensemble is None:
        yield
        return
    positions = ensemble.positions
    ensemble.positions = torch.nn.ModuleList()
    try:
        yield
    finally:
        ensemble.positions = positions


def convert(module: torch.nn.Module, x: torch.Tensor, *, dynamic_batch: bool = False) -> Any:
    """``ov.convert_model`` under :func:`_convertible`; static shape, or a dynamic first dimension.

    The module is traced once, without ``torch.jit.trace``'s own check (which traces and runs it
    twice more: a third of the conversion time at 5 MP). What the check looks for, a trace that
    depends on its input's values, the tests catch by comparing every converted graph with torch
    on other inputs, and export does on the check frames.
    """
    ov = require("openvino", "train")
    decoder_module = require("openvino.frontend.pytorch.ts_decoder", "train")
    shape = [-1, *x.shape[1:]] if dynamic_batch else list(x.shape)
    with _convertible(), torch.no_grad(), _untraced_positions(module):
        decoder = decoder_module.TorchScriptPythonDecoder(
            module, example_input=(x,), trace_kwargs={"check_trace": False}
        )
        return ov.convert_model(decoder, input=[ov.PartialShape(shape)])


def example_frames(grid: TileGrid, frames: int = 1) -> torch.Tensor:
    """Random frames ``[frames, 3, H, W]`` in [0, 1] of the grid's size."""
    generator = torch.Generator().manual_seed(0)
    return torch.rand(frames, 3, *grid.image_hw, generator=generator)


def write_graph(ensemble: TiledEnsemble, folder: Path, join: dict[str, Any]) -> dict[str, Any]:
    """Convert the whole-frame graph to an FP32 OpenVINO IR ``folder/frame.xml`` (+ ``.bin``).

    Converted with a dynamic batch (every reshape inside is batch-agnostic) and stored with a static
    batch of 1, what Model API, OVMS and NPUs expect; the runtime reshapes it to B frames per call.

    Args:
        ensemble: The trained ensemble (left unchanged except for the exact blur rewrite).
        folder: Destination folder (created).
        join: The join description (order, weights, score_rule, seam_width, seam_sigma).

    Returns:
        The graph's description for the training record.
    """
    ov = require("openvino", "train")
    graph = frame_graph(ensemble, join)
    x = example_frames(ensemble.grid)
    model = convert(graph, x, dynamic_batch=True)
    model.reshape({0: ov.PartialShape(list(x.shape))})
    model.inputs[0].get_tensor().set_names({INPUT_NAME})
    model.outputs[0].get_tensor().set_names({RAW_MAP})
    model.outputs[1].get_tensor().set_names({RAW_SCORE})
    folder.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, folder / "frame.xml", compress_to_fp16=False)
    h, w = ensemble.grid.image_hw
    return {
        "xml": "graph/frame.xml",
        "bin": "graph/frame.bin",
        "join": dict(join),
        "input": {"name": INPUT_NAME, "shape": [1, 3, h, w], "layout": "NCHW", "color": "RGB", "range": [0, 1]},
        "outputs": {RAW_MAP: [1, 1, h, w], RAW_SCORE: [1]},
        "trunk_prefix": "__module.ensemble.trunk",
    }


class TilesGraph(torch.nn.Module):
    """The earlier bundle format, kept for measurements: a frame's N tiles in, N tile maps out.

    Input ``float32 [N, 3, T, T]`` normalized RGB tiles; outputs maps ``[N, 1, T, T]`` and the tiles'
    map maxima ``[N]``; joining is left to the caller (``edgekit.tiling.untile``).

    Args:
        ensemble: The trained ensemble.
    """

    def __init__(self, ensemble: TiledEnsemble) -> None:
        super().__init__()
        _swap_blurs(ensemble)
        self.ensemble = ensemble
        self.padim = PadimHeads(ensemble) if ensemble.family.name is ModelName.PADIM else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Maps ``[N, 1, T, T]`` and scores ``[N]``."""
        if self.padim is not None:
            maps = self.padim.tile_maps(self.ensemble.shared_features(x), self.ensemble.grid.tile_hw)
            return maps, maps.amax(dim=(-3, -2, -1))
        maps, scores = self.ensemble(x)
        return maps.reshape(-1, 1, *maps.shape[2:]), scores.reshape(-1)


class PositionGraph(torch.nn.Module):
    """One tile position as a whole model of its own: its own trunk pass and its head.

    What exporting each anomalib tile model separately gives (anomalib's tiled ensemble has one
    full model per position); kept for the "naive" side of the fused-vs-separate measurement.

    Args:
        ensemble: The trained ensemble.
        position: The tile position.
    """

    def __init__(self, ensemble: TiledEnsemble, position: int) -> None:
        super().__init__()
        _swap_blurs(ensemble)
        # only this position's model (which holds the shared trunk): tracing the whole ensemble for
        # every position made converting N positions N times slower
        self.model = ensemble.positions[position]
        self.trunk = ensemble.trunk
        object.__setattr__(self, "_family", ensemble.family)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Map ``[1, 1, T, T]`` and score ``[1]`` of one tile."""
        with torch.no_grad():
            feats = self._family.features(self.trunk, x)
        return self._family.predict(self.model, feats, x)


def _tile_input(ensemble: TiledEnsemble, n: int) -> torch.Tensor:
    t_h, t_w = ensemble.grid.tile_hw
    return torch.randn(n, 3, t_h, t_w, generator=torch.Generator().manual_seed(0))


def write_tiles_graph(ensemble: TiledEnsemble, folder: Path) -> dict[str, Any]:
    """Convert :class:`TilesGraph` to ``folder/tiles.xml`` (FP32, static ``[N, 3, T, T]`` input).

    Args:
        ensemble: The trained ensemble.
        folder: Destination folder (created).

    Returns:
        File names and the input shape.
    """
    ov = require("openvino", "train")
    folder.mkdir(parents=True, exist_ok=True)
    x = _tile_input(ensemble, ensemble.n_positions)
    model = convert(TilesGraph(ensemble).eval(), x)
    model.inputs[0].get_tensor().set_names({"tiles"})
    ov.save_model(model, folder / "tiles.xml", compress_to_fp16=False)
    return {"xml": "tiles.xml", "bin": "tiles.bin", "input_shape": list(x.shape)}


def write_position_graphs(ensemble: TiledEnsemble, folder: Path) -> list[dict[str, Any]]:
    """Convert every position to its own FP32 IR (``pNN.xml``) in ``folder``.

    Args:
        ensemble: The trained ensemble.
        folder: Destination folder (created).

    Returns:
        One description per position (relative file names, input shape).
    """
    ov = require("openvino", "train")
    folder.mkdir(parents=True, exist_ok=True)
    x = _tile_input(ensemble, 1)
    out = []
    for p in range(ensemble.n_positions):
        model = convert(PositionGraph(ensemble, p).eval(), x)
        model.inputs[0].get_tensor().set_names({"tiles"})
        ov.save_model(model, folder / f"p{p:02d}.xml", compress_to_fp16=False)
        out.append({"xml": f"p{p:02d}.xml", "bin": f"p{p:02d}.bin", "input_shape": list(x.shape)})
    return out
