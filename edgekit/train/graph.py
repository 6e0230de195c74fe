"""The ensemble as one inference graph: trunk once on all N tiles, N heads, maps and scores out.

This is the last step of training and the hand-over to export: ``RUN/graph/ensemble.xml`` is the
FP32 OpenVINO IR of this module (converted with ``ov.convert_model`` while torch is at hand), so
the export stage can quantize and package it without torch, anomalib or edgekit.train.

Input: ``float32 [K*N, 3, T, T]`` ImageNet-normalized RGB tiles, frame-major (export bakes the
uint8 BGR NHWC conversion in front). Outputs: ``maps [K*N, 1, T, T]`` and ``scores [K*N]``.

Two graph rewrites, both exact up to float rounding and checked in tests:

* anomalib's ``GaussianBlur2d`` (a 33x33 2-D convolution after reflect padding) becomes two 1-D
  convolutions after the same padding: the kernel is an outer product, so the result is the same
  at 66 instead of 1089 multiply-adds per pixel.
* PaDiM's N per-position Mahalanobis heads become one batched expression over stacked means and
  inverse covariances, so the graph has one large MatMul instead of N.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

from edgekit._extras import require
from edgekit.train.config import ModelName
from edgekit.train.ensemble import TiledEnsemble

torch = require("torch", "train")
F = torch.nn.functional


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


def _swap_blurs(module: torch.nn.Module) -> None:
    """Replace every anomalib GaussianBlur2d inside ``module`` with the separable version."""
    blur_cls = require("anomalib.models.components.filters", "train").GaussianBlur2d
    for name, child in list(module.named_children()):
        if isinstance(child, blur_cls):
            setattr(module, name, SeparableGaussianBlur(child))
        else:
            _swap_blurs(child)


class PadimHeads(torch.nn.Module):
    """All N PaDiM heads as one batched Mahalanobis distance.

    Args:
        ensemble: A fitted PaDiM ensemble (every position shares ``idx``).
        frames: Frames per call ``K``.
    """

    def __init__(self, ensemble: TiledEnsemble, frames: int) -> None:
        super().__init__()
        first = ensemble.positions[0]
        for model in ensemble.positions:
            if not torch.equal(model.idx, first.idx):
                msg = "PaDiM positions use different feature subsets; the fused head needs one shared idx"
                raise ValueError(msg)
        # not a registered submodule: its trunk is traced through ``ensemble.trunk``, so no trunk node
        # is named after the head (export's ignored scope matches head names)
        object.__setattr__(self, "_first", first)
        self.frames = frames
        self.n = ensemble.n_positions
        self.register_buffer("mean", torch.stack([m.gaussian.mean for m in ensemble.positions]))  # [N, C, P]
        self.register_buffer(
            "inv_cov", torch.stack([m.gaussian.inv_covariance for m in ensemble.positions])
        )  # [N, P, C, C]
        blur = first.anomaly_map_generator.blur
        self.blur = blur if isinstance(blur, SeparableGaussianBlur) else SeparableGaussianBlur(blur)

    def forward(self, feats: dict[str, torch.Tensor], tile_hw: tuple[int, int]) -> torch.Tensor:
        """Maps ``[K*N, 1, T, T]`` from trunk features of K frames."""
        emb = self._first.generate_embedding(feats)  # [K*N, C, h, w]
        _, c, h, w = emb.shape
        delta = emb.reshape(self.frames, self.n, c, h * w) - self.mean.unsqueeze(0)  # [K, N, C, P]
        delta = delta.permute(0, 1, 3, 2).unsqueeze(-2)  # [K, N, P, 1, C]
        d2 = (torch.matmul(delta, self.inv_cov.unsqueeze(0)) * delta).sum(dim=(-2, -1))  # [K, N, P]
        dist = d2.clamp(min=0).sqrt().reshape(self.frames * self.n, 1, h, w)
        dist = F.interpolate(dist, size=tile_hw, mode="bilinear", align_corners=False)
        return self.blur(dist)


class InferenceGraph(torch.nn.Module):
    """The whole ensemble for one call of K frames.

    Args:
        ensemble: The trained ensemble.
        frames: Frames per call ``K`` (static: NPU needs static shapes).
        fused_padim: Use the batched PaDiM head (PaDiM only).
    """

    def __init__(self, ensemble: TiledEnsemble, frames: int = 1, fused_padim: bool = True) -> None:
        super().__init__()
        self.ensemble = ensemble
        self.frames = frames
        self.tile_hw = ensemble.grid.tile_hw
        self.padim = (
            PadimHeads(ensemble, frames) if fused_padim and ensemble.family.name is ModelName.PADIM else None
        )
        _swap_blurs(ensemble)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Maps ``[K*N, 1, T, T]`` and scores ``[K*N]`` (each tile's map maximum or model score)."""
        if self.padim is not None:
            feats = self.ensemble.shared_features(x)
            maps = self.padim(feats, self.tile_hw)
            return maps, maps.amax(dim=(-3, -2, -1))
        maps, scores = self.ensemble(x)  # [K, N, T, T], [K, N]
        k, n = maps.shape[:2]
        return maps.reshape(k * n, 1, *maps.shape[2:]), scores.reshape(k * n)


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


def convert(module: torch.nn.Module, x: torch.Tensor) -> Any:
    """``ov.convert_model`` with a static input shape, under :func:`_convertible`."""
    ov = require("openvino", "train")
    with _convertible(), torch.no_grad():
        return ov.convert_model(module, example_input=x, input=[tuple(x.shape)])


def example_input(ensemble: TiledEnsemble, frames: int = 1) -> torch.Tensor:
    """A normalized random input of the graph's static shape."""
    t_h, t_w = ensemble.grid.tile_hw
    generator = torch.Generator().manual_seed(0)
    return torch.randn(frames * ensemble.n_positions, 3, t_h, t_w, generator=generator)


def write_graph(ensemble: TiledEnsemble, folder: Path, frames: int = 1) -> dict[str, Any]:
    """Convert the ensemble to an FP32 OpenVINO IR in ``folder`` (``ensemble.xml`` + ``.bin``).

    Args:
        ensemble: The trained ensemble (left unchanged except for the exact blur rewrite).
        folder: Destination folder (created).
        frames: Frames per call ``K``.

    Returns:
        The graph's description for the training record.
    """
    ov = require("openvino", "train")
    graph = InferenceGraph(ensemble, frames=frames).eval()
    x = example_input(ensemble, frames)
    model = convert(graph, x)
    model.inputs[0].get_tensor().set_names({"tiles"})
    model.outputs[0].get_tensor().set_names({"maps"})
    model.outputs[1].get_tensor().set_names({"scores"})
    folder.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, folder / "ensemble.xml", compress_to_fp16=False)
    return {
        "xml": "graph/ensemble.xml",
        "bin": "graph/ensemble.bin",
        "frames_per_call": frames,
        "input": {
            "name": "tiles",
            "shape": list(x.shape),
            "layout": "NCHW",
            "color": "RGB",
            "dtype": "f32",
            "mean": [0.485 * 255, 0.456 * 255, 0.406 * 255],
            "scale": [0.229 * 255, 0.224 * 255, 0.225 * 255],
        },
        "outputs": {"maps": [x.shape[0], 1, x.shape[2], x.shape[3]], "scores": [x.shape[0]]},
    }


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
        self.ensemble = ensemble
        self.position = position
        _swap_blurs(ensemble)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Map ``[1, 1, T, T]`` and score ``[1]`` of one tile."""
        feats = self.ensemble.shared_features(x)
        model = self.ensemble.positions[self.position]
        return self.ensemble.family.predict(model, feats, x)


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
    x = example_input(ensemble)[:1]
    out = []
    for p in range(ensemble.n_positions):
        model = convert(PositionGraph(ensemble, p).eval(), x)
        model.inputs[0].get_tensor().set_names({"tiles"})
        ov.save_model(model, folder / f"p{p:02d}.xml", compress_to_fp16=False)
        out.append({"xml": f"p{p:02d}.xml", "bin": f"p{p:02d}.bin", "input_shape": list(x.shape)})
    return out
