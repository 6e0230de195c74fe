"""A loaded bundle compiled on a device: tile, infer, join, post-process. OpenVINO, numpy and OpenCV only."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.artifacts.manifest import EnsembleManifest
from edgekit.devices import CoreLike, PerformanceHint, compile_config, default_core, resolve_device, traits
from edgekit.errors import DeviceError
from edgekit.runtime.frames import FramePrep
from edgekit.runtime.post import postprocess
from edgekit.runtime.result import FrameResult
from edgekit.tiling import ScoreRule, join_score, smooth_seams, tile, untile

logger = logging.getLogger(__name__)


def _ms(t0: int, t1: int) -> float:
    return (t1 - t0) / 1e6


def _reason(error: BaseException) -> str:
    """One line saying why OpenVINO failed.

    OpenVINO's messages start with one ``Exception from src/...cpp:NN:`` line per layer it passed
    through; the reason is the last non-empty line.
    """
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    reasons = [line for line in lines if not line.startswith("Exception from ")]
    return (reasons or lines or [type(error).__name__])[-1]


class Engine:
    """A bundle compiled for one device.

    Args:
        bundle: The bundle folder (``manifest.json`` + IR); every file's hash is checked.
        device: ``CPU``, ``GPU``, ``GPU.0``, ``NPU``, ``AUTO``, ... (see :func:`edgekit.devices.resolve_device`).
        cache_dir: Compile cache for devices that benefit (GPU, NPU).
        hint: OpenVINO performance hint: ``LATENCY`` for :meth:`predict`, ``THROUGHPUT`` for streams.
        strict: Refuse frames whose size differs from the grid's.
        core: An OpenVINO core (a fake one in tests).

    Raises:
        ArtifactError: Missing, altered or too new bundle.
        DeviceError: Unknown device, or the device failed to compile the model.
    """

    def __init__(
        self,
        bundle: Path,
        device: str = "CPU",
        *,
        cache_dir: Path | None = None,
        hint: PerformanceHint | str = PerformanceHint.LATENCY,
        strict: bool = False,
        core: CoreLike | None = None,
    ) -> None:
        self.bundle = Path(bundle)
        self.manifest = EnsembleManifest.load(self.bundle)
        self.grid = self.manifest.grid
        self.core = core if core is not None else default_core()
        self.device = resolve_device(device, self.core)
        precision = self._precision(self.device)
        self.config = compile_config(self.device, cache_dir, hint=hint, precision=precision)
        t0 = time.perf_counter()
        try:
            self.compiled = self.core.compile_model(str(self.bundle / self.manifest.xml), self.device, self.config)
        except RuntimeError as error:
            msg = f"device {self.device} failed to compile the bundle {self.bundle}: {_reason(error)}"
            raise DeviceError(msg) from error
        self.compile_s = time.perf_counter() - t0
        self.prep = FramePrep(self.grid.image_hw, strict=strict)
        self.rule = ScoreRule(self.manifest.join.score_rule)
        self._request: Any = None
        logger.info("compiled %s on %s in %.2f s (%s)", self.bundle, self.device, self.compile_s, self.config)

    def _precision(self, device: str) -> str | None:
        """The bundle's requested inference precision on CPU; the device's own elsewhere (f16 GPU/NPU)."""
        wanted = self.manifest.quantization.get("inference_precision")
        return wanted if traits(device).family == "CPU" else None

    @property
    def optimal_requests(self) -> int:
        """The device's optimal number of parallel requests for the compiled model."""
        try:
            return max(1, int(self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
        except RuntimeError:
            return 1

    def tile_into(self, frame: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Prepare and tile a frame into ``out`` (``uint8 [N, T, T, 3]``)."""
        return tile(self.grid, self.prep(frame), out=out)

    def finish(
        self,
        tile_maps: np.ndarray,
        index: int = 0,
        timestamp: float = 0.0,
        source_hw: tuple[int, int] | None = None,
        timings: dict[str, float] | None = None,
    ) -> FrameResult:
        """Join tile maps and post-process them into a :class:`FrameResult`.

        Args:
            tile_maps: ``[N, 1, T, T]`` or ``[N, T, T]`` raw maps from the model.
            index: Frame index.
            timestamp: Source timestamp (s).
            source_hw: The frame's size at the source.
            timings: Stage timings so far (ms); join and post are added.

        Returns:
            The frame result.
        """
        timings = dict(timings or {})
        t0 = time.perf_counter_ns()
        joined = untile(self.grid, tile_maps, self.manifest.join.weights)
        if self.manifest.join.seam_width > 0:
            joined = smooth_seams(self.grid, joined, self.manifest.join.seam_width, self.manifest.join.seam_sigma)
        raw = join_score(joined, tile_maps, self.rule)
        t1 = time.perf_counter_ns()
        score, label, norm_map, mask, boxes = postprocess(joined, raw, self.manifest.thresholds)
        t2 = time.perf_counter_ns()
        timings["join"] = _ms(t0, t1)
        timings["post"] = _ms(t1, t2)
        return FrameResult(
            index=index,
            timestamp=timestamp,
            score=score,
            raw_score=raw,
            label=label,
            anomaly_map=norm_map,
            mask=mask,
            boxes=boxes,
            timings_ms=timings,
            source_hw=source_hw or self.grid.image_hw,
        )

    def predict(self, frame: np.ndarray, index: int = 0, timestamp: float = 0.0) -> FrameResult:
        """Run one frame synchronously.

        Args:
            frame: An image (BGR, gray or BGRA; any size unless ``strict``).
            index: Frame index for the result.
            timestamp: Timestamp for the result.

        Returns:
            The frame result.
        """
        if self._request is None:
            self._request = self.compiled.create_infer_request()
        t0 = time.perf_counter_ns()
        tiles = self.tile_into(frame)
        t1 = time.perf_counter_ns()
        maps = self._request.infer({0: tiles})[self.compiled.outputs[0]]
        t2 = time.perf_counter_ns()
        timings = {"tile": _ms(t0, t1), "infer": _ms(t1, t2)}
        result = self.finish(maps, index, timestamp, tuple(frame.shape[:2]), timings)
        result.timings_ms["e2e"] = _ms(t0, time.perf_counter_ns())
        return result
