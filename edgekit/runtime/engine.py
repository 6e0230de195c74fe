"""A loaded bundle compiled on a device: the stored whole-frame IR, specialized for raw camera frames.

The bundle's IR does the tiling, heads, join, score rule, normalization, label and mask itself; the
engine only brings a frame to the grid's size, runs it and turns the mask into boxes. OpenVINO,
numpy and OpenCV only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.artifacts.ir import (
    ANOMALY_MAP,
    OUTPUT_NAMES,
    PRED_LABEL,
    PRED_MASK,
    PRED_SCORE,
    specialize,
    with_batch,
)
from edgekit.artifacts.manifest import EnsembleManifest
from edgekit.devices import CoreLike, PerformanceHint, compile_config, default_core, resolve_device, traits
from edgekit.errors import ConfigError, DataError, DeviceError
from edgekit.runtime.frames import FramePrep
from edgekit.runtime.post import boxes_of
from edgekit.runtime.result import FrameResult

logger = logging.getLogger(__name__)

Outputs = dict[str, np.ndarray]


class FrameError(DataError):
    """The model produced an unusable result for one frame (NaN or infinite score or map)."""


def _ms(t0: int, t1: int) -> float:
    return (t1 - t0) / 1e6


def error_reason(error: BaseException) -> str:
    """One line saying why OpenVINO failed.

    OpenVINO's messages start with one ``Exception from src/...cpp:NN:`` line per layer it passed
    through; the reason is the last non-empty line.
    """
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    reasons = [line for line in lines if not line.startswith("Exception from ")]
    return (reasons or lines or [type(error).__name__])[-1]


def read_outputs(request: Any) -> Outputs:
    """Copy the four outputs out of a finished request (the request's tensors are reused)."""
    return {name: np.array(request.get_tensor(name).data) for name in OUTPUT_NAMES}


def frame_result(
    outputs: Outputs,
    image_hw: tuple[int, int],
    index: int = 0,
    timestamp: float = 0.0,
    source_hw: tuple[int, int] | None = None,
    timings: dict[str, float] | None = None,
) -> FrameResult:
    """Turn the model's four outputs for one frame into a :class:`FrameResult` (boxes from the mask).

    The one place where the stored IR's outputs become a result, whether the model ran here or on a
    server.

    Args:
        outputs: ``pred_score``, ``pred_label``, ``anomaly_map``, ``pred_mask`` of one frame.
        image_hw: The model's frame size (the map's size).
        index: Frame index.
        timestamp: Source timestamp (s).
        source_hw: The frame's size at the source.
        timings: Stage timings so far (ms); ``post`` is added.

    Returns:
        The frame result.

    Raises:
        FrameError: The score or the map holds NaN or infinities (the model failed on this frame), or
            an output is missing or of the wrong size.
    """
    timings = dict(timings or {})
    t0 = time.perf_counter_ns()
    try:
        score = float(np.asarray(outputs[PRED_SCORE]).reshape(-1)[0])
        norm_map = np.asarray(outputs[ANOMALY_MAP], dtype=np.float32).reshape(image_hw)
        label = bool(np.asarray(outputs[PRED_LABEL]).reshape(-1)[0])
        mask = np.asarray(outputs[PRED_MASK]).reshape(image_hw).astype(bool, copy=False)
    except (KeyError, ValueError, IndexError) as error:
        shapes = {name: list(np.shape(value)) for name, value in outputs.items()}
        msg = f"frame {index}: the model's outputs {shapes} are not the four outputs of a {image_hw} frame ({error})"
        raise FrameError(msg) from error
    if not np.isfinite(score) or not np.isfinite(norm_map).all():
        bad = int(np.size(norm_map) - np.isfinite(norm_map).sum())
        msg = f"frame {index}: the model returned a non-finite result (score {score}, {bad} map pixels NaN or inf)"
        raise FrameError(msg)
    boxes = boxes_of(mask, norm_map) if label else ()
    timings["post"] = _ms(t0, time.perf_counter_ns())
    return FrameResult(
        index=index,
        timestamp=timestamp,
        score=score,
        label=label,
        anomaly_map=norm_map,
        mask=mask,
        boxes=boxes,
        timings_ms=timings,
        source_hw=source_hw or image_hw,
    )


def call_tensor(images: list[np.ndarray], batch: int, pad_to: int | None = None) -> np.ndarray:
    """One call's input ``[k, ...]`` from k <= ``batch`` prepared frames, padded to ``pad_to`` frames if given.

    Raises:
        DataError: More frames than one call takes.
    """
    if len(images) > batch:
        msg = f"{len(images)} frames for one call; this engine takes at most {batch}"
        raise DataError(msg)
    if pad_to is not None and len(images) < pad_to:
        images = [*images, *[images[-1]] * (pad_to - len(images))]  # results of the padding are ignored
    if len(images) == 1:
        return images[0][None]  # a view: one frame per call (the CPU default) copies nothing
    return np.stack(images)


def predict_frame(model: Any, frame: np.ndarray, index: int = 0, timestamp: float = 0.0) -> FrameResult:
    """One frame through ``model`` synchronously: prepare, one call (``model.infer``), result.

    ``model`` is an :class:`Engine` or a :class:`~edgekit.runtime.remote.RemoteEngine`; the stage
    timings are the same for both (``infer`` includes reading the outputs).

    Raises:
        DataError: An unusable frame, a failed call, or a non-finite result (:class:`FrameError`).
    """
    t0 = time.perf_counter_ns()
    image = model.prep(frame)
    t1 = time.perf_counter_ns()
    outputs = model.infer(model.batch_tensor([image]))
    t2 = time.perf_counter_ns()
    timings = {"prep": _ms(t0, t1), "infer": _ms(t1, t2)}
    first = {k: v[:1] for k, v in outputs.items()}
    result = model.finish(first, index, timestamp, tuple(frame.shape[:2]), timings)
    result.timings_ms["e2e"] = _ms(t0, time.perf_counter_ns())
    return result


class LocalInferQueue:
    """Calls in flight on a compiled model; the callback only copies the outputs (it holds the GIL).

    Args:
        compiled: The compiled model.
        jobs: Requests in flight.
        done: ``done(outputs, userdata, error)``: outputs None and a one-line error when the call failed.
    """

    def __init__(self, compiled: Any, jobs: int, done: Callable[[Outputs | None, Any, str], None]) -> None:
        import openvino as ov

        self._done = done
        self.queue = ov.AsyncInferQueue(compiled, jobs)
        self.queue.set_callback(self._callback)

    def _callback(self, request: Any, userdata: Any) -> None:
        try:
            outputs: Outputs | None = read_outputs(request)
            error = ""
        except RuntimeError as failure:  # a failed request: its frames become counted errors
            outputs, error = None, error_reason(failure)
        self._done(outputs, userdata, error)

    def start_async(self, tensor: np.ndarray, userdata: Any) -> None:
        """Start one call on ``tensor`` (read in place: keep it alive until ``done``).

        Raises:
            RuntimeError: The call could not start.
        """
        self.queue.start_async({0: tensor}, userdata=userdata, share_inputs=True)

    def wait_all(self) -> None:
        """Wait for every call in flight."""
        self.queue.wait_all()


class Engine:
    """A bundle compiled for one device.

    Args:
        bundle: The bundle folder (``manifest.json`` + IR); every file's hash is checked first.
        device: ``CPU``, ``GPU``, ``GPU.0``, ``NPU``, ``AUTO``, ... (see :func:`edgekit.devices.resolve_device`).
        cache_dir: Compile cache for devices that benefit (GPU, NPU).
        hint: OpenVINO performance hint: ``LATENCY`` for :meth:`predict`, ``THROUGHPUT`` for streams.
        strict: Refuse frames whose size differs from the grid's.
        batch: Frames per call B. Devices with dynamic shapes compile a batch bounded by B (a call may
            hold 1..B frames); devices that need static shapes (NPU) compile exactly B and short
            calls are padded.
        core: An OpenVINO core (a fake one in tests).
        tensor_input: Compile the stored IR's own input (float ``[B, 3, H, W]`` RGB in [0, 1], what a
            server receives) instead of raw ``uint8`` BGR camera frames.

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
        batch: int = 1,
        core: CoreLike | None = None,
        tensor_input: bool = False,
    ) -> None:
        if not isinstance(batch, int) or isinstance(batch, bool) or not 1 <= batch <= 64:
            msg = f"batch {batch!r} is out of range; accepted: 1 to 64 frames per call"
            raise ConfigError(msg)
        self.bundle = Path(bundle)
        self.manifest = EnsembleManifest.load(self.bundle)
        self.grid = self.manifest.grid
        self.core = core if core is not None else default_core()
        self.device = resolve_device(device, self.core)
        self.batch = batch
        self.static_batch = traits(self.device).requires_static_shapes
        precision = self._precision(self.device)
        self.config = compile_config(self.device, cache_dir, hint=hint, precision=precision)
        t0 = time.perf_counter()
        try:
            shape = batch if self.static_batch or batch == 1 else (1, batch)
            stored = self.core.read_model(str(self.bundle / self.manifest.xml))
            model = with_batch(stored, shape) if tensor_input else specialize(stored, batch=shape)
            self.compiled = self.core.compile_model(model, self.device, self.config)
        except RuntimeError as error:
            msg = f"device {self.device} failed to compile the bundle {self.bundle}: {error_reason(error)}"
            raise DeviceError(msg) from error
        self.compile_s = time.perf_counter() - t0
        self.prep = FramePrep(self.grid.image_hw, strict=strict)
        self._request: Any = None
        logger.info("compiled %s on %s in %.2f s (%s)", self.bundle, self.device, self.compile_s, self.config)

    def _precision(self, device: str) -> str | None:
        """The bundle's requested inference precision on CPU (also the CPU inside AUTO/MULTI/HETERO).

        GPU and NPU keep their own (f16).
        """
        wanted = self.manifest.quantization.get("inference_precision")
        return wanted if traits(device).family in ("CPU", "AUTO", "MULTI", "HETERO") else None

    @property
    def optimal_requests(self) -> int:
        """The device's optimal number of parallel requests for the compiled model."""
        try:
            return max(1, int(self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
        except RuntimeError:
            return 1

    def batch_tensor(self, images: list[np.ndarray]) -> np.ndarray:
        """One call's input ``uint8 [k, H, W, 3]`` from k <= B prepared frames (padded to B where static)."""
        return call_tensor(images, self.batch, self.batch if self.static_batch else None)

    @property
    def precision(self) -> str:
        """The bundle's precision (``int8``, ``fp16``, ``fp32``)."""
        return self.manifest.precision

    def infer_queue(self, jobs: int, done: Callable[[Outputs | None, Any, str], None]) -> LocalInferQueue:
        """Up to ``jobs`` calls in flight on the compiled model; ``done(outputs, userdata, error)`` per call."""
        return LocalInferQueue(self.compiled, jobs, done)

    def finish(
        self,
        outputs: Outputs,
        index: int = 0,
        timestamp: float = 0.0,
        source_hw: tuple[int, int] | None = None,
        timings: dict[str, float] | None = None,
    ) -> FrameResult:
        """Turn the model's four outputs for one frame into a :class:`FrameResult` (see :func:`frame_result`)."""
        return frame_result(outputs, self.grid.image_hw, index, timestamp, source_hw, timings)

    def predict(self, frame: np.ndarray, index: int = 0, timestamp: float = 0.0) -> FrameResult:
        """Run one frame synchronously.

        Args:
            frame: An image (BGR, gray or BGRA; any size unless ``strict``).
            index: Frame index for the result.
            timestamp: Timestamp for the result.

        Returns:
            The frame result.

        Raises:
            DataError: An unusable frame, or a non-finite result (:class:`FrameError`).
        """
        return predict_frame(self, frame, index, timestamp)

    def infer(self, tensor: np.ndarray) -> Outputs:
        """One synchronous call on ``tensor`` (from :meth:`batch_tensor`): the four outputs."""
        if self._request is None:
            self._request = self.compiled.create_infer_request()
        self._request.infer({0: tensor}, share_inputs=True)
        return read_outputs(self._request)
