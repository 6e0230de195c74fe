"""The bundle as a kserve model: checked inputs, frames of concurrent requests batched into one inference.

What a request may send as its one input ``input`` (N frames, 1 <= N <= ``max_frames``):

* ``UINT8 [N, H, W, 3]``: BGR camera frames. The model metadata advertises this input, and
  ``edgekit run --server`` sends it: a quarter of the bytes of floats, and exact.
* ``FP32 [N, 3, H, W]``: the stored IR's own input, RGB in [0, 1], what anomalib's and Model API's
  conventions produce.
* ``BYTES [N]``: JPEG or PNG files, as OpenVINO Model Server accepts them for NHWC uint8 models.
  Each is decoded (BGR) and brought to H x W the way ``edgekit run`` brings a frame (antialiased
  resize).

Outputs: ``pred_score FP32 [N]``, ``pred_label BOOL [N]``, ``anomaly_map FP32 [N, 1, H, W]``,
``pred_mask BOOL [N, 1, H, W]``, or the subset the request names. A request that breaks these
rules gets kserve's ``InvalidInput`` (REST 400, gRPC INVALID_ARGUMENT) with one line naming the
value received and what is accepted.

The :class:`Batcher` keeps a few inference requests of the compiled model busy. Frames wait at most
``max_wait_ms`` for others to fill a call of B frames; they come from one request or from several.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from kserve import Model
from kserve.errors import InferenceError, InvalidInput
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse

from edgekit.artifacts.ir import ANOMALY_MAP, INPUT_NAME, OUTPUT_NAMES, PRED_LABEL, PRED_MASK, PRED_SCORE, to_input
from edgekit.devices import PerformanceHint
from edgekit.errors import DataError
from edgekit.runtime.engine import Engine, Outputs, error_reason, read_outputs
from edgekit.runtime.frames import FramePrep

logger = logging.getLogger(__name__)

#: Largest number of frames one request may hold.
MAX_FRAMES = 64
_DATATYPES = {PRED_SCORE: "FP32", PRED_LABEL: "BOOL", ANOMALY_MAP: "FP32", PRED_MASK: "BOOL"}


def output_types(hw: tuple[int, int]) -> list[dict[str, Any]]:
    """The four outputs' metadata for frames of size ``hw`` (the batch dimension is -1)."""
    h, w = hw
    shapes = {PRED_SCORE: [-1], PRED_LABEL: [-1], ANOMALY_MAP: [-1, 1, h, w], PRED_MASK: [-1, 1, h, w]}
    return [{"name": name, "datatype": _DATATYPES[name], "shape": shapes[name]} for name in OUTPUT_NAMES]


def _accepted(hw: tuple[int, int]) -> str:
    h, w = hw
    return f"UINT8 [N,{h},{w},3] BGR frames, FP32 [N,3,{h},{w}] RGB in [0,1], or BYTES [N] JPEG/PNG images"


def _decode_image(item: Any, k: int) -> np.ndarray:
    """One BYTES element -> a BGR uint8 image (a JSON string is read as base64)."""
    if isinstance(item, str):
        try:
            item = base64.b64decode(item, validate=True)
        except (binascii.Error, ValueError):
            msg = f"element {k} of input {INPUT_NAME!r} is text that is not base64; accepted: JPEG/PNG bytes"
            raise InvalidInput(msg) from None
    data = np.frombuffer(bytes(item), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        msg = f"element {k} of input {INPUT_NAME!r} ({data.size} bytes) is not a decodable JPEG or PNG image"
        raise InvalidInput(msg)
    return image


def frames_of(request: InferRequest, hw: tuple[int, int], max_frames: int = MAX_FRAMES) -> np.ndarray:
    """The request's frames as the stored IR's input, ``float32 [N, 3, H, W]`` RGB in [0, 1].

    Args:
        request: A decoded inference request.
        hw: The model's frame size.
        max_frames: Largest N accepted.

    Returns:
        The input tensor.

    Raises:
        InvalidInput: Not one input named ``input``, a datatype or shape that is not accepted, data
            that does not fill the shape, undecodable images, or floats outside [0, 1].
    """
    names = [i.name for i in request.inputs]
    if names != [INPUT_NAME]:
        msg = f"the request's inputs are {names}; accepted: exactly one input named {INPUT_NAME!r}"
        raise InvalidInput(msg)
    tensor = request.inputs[0]
    datatype, shape = tensor.datatype, [int(d) for d in tensor.shape]
    h, w = hw
    expected = {"UINT8": [h, w, 3], "FP32": [3, h, w], "BYTES": []}.get(datatype)
    if expected is None or len(shape) != 1 + len(expected) or shape[1:] != expected:
        msg = f"input {INPUT_NAME!r} is {datatype} {shape}; accepted: {_accepted(hw)}"
        raise InvalidInput(msg)
    if not 1 <= shape[0] <= max_frames:
        msg = f"input {INPUT_NAME!r} holds {shape[0]} frames; accepted: 1 to {max_frames} per request"
        raise InvalidInput(msg)
    try:
        data = tensor.as_numpy()
    except (ValueError, TypeError) as error:
        msg = f"the data of input {INPUT_NAME!r} do not fill its shape {datatype} {shape}: {error}"
        raise InvalidInput(msg) from None
    if datatype == "UINT8":
        return to_input(np.ascontiguousarray(data))
    if datatype == "FP32":
        data = np.ascontiguousarray(data, dtype=np.float32)
        low, high = float(data.min()), float(data.max())
        if not (low >= 0.0 and high <= 1.0):  # NaN fails both comparisons
            msg = (
                f"input {INPUT_NAME!r} holds values from {low:g} to {high:g}; accepted: RGB in [0, 1] "
                "(divide 0-255 frames by 255, or send UINT8)"
            )
            raise InvalidInput(msg)
        return data
    prep = FramePrep(hw)
    images = []
    for k, item in enumerate(data.reshape(-1)):
        try:
            images.append(prep(_decode_image(item, k)))
        except DataError as error:
            msg = f"element {k} of input {INPUT_NAME!r}: {error}"
            raise InvalidInput(msg) from None
    return to_input(np.stack(images))


@dataclass
class BatchStats:
    """What the batcher did, in the form of Triton's statistics extension (``GET /v2/models/NAME/stats``)."""

    frames: int = 0
    calls: int = 0
    failed: int = 0
    infer_ns: int = 0
    last_ms: int = 0
    by_size: Counter[int] = field(default_factory=Counter)
    ns_by_size: Counter[int] = field(default_factory=Counter)

    def to_triton(self, name: str) -> dict[str, Any]:
        """The ``model_stats`` entry tritonclient's ``get_inference_statistics`` returns."""
        return {
            "name": name,
            "version": "1",
            "last_inference": self.last_ms,
            "inference_count": self.frames,
            "execution_count": self.calls,
            "inference_stats": {
                "success": {"count": self.frames, "ns": self.infer_ns},
                "fail": {"count": self.failed, "ns": 0},
            },
            "batch_stats": [
                {"batch_size": size, "compute_infer": {"count": count, "ns": self.ns_by_size[size]}}
                for size, count in sorted(self.by_size.items())
            ],
        }


@dataclass
class _Item:
    frame: np.ndarray  # float32 [3, H, W]
    future: asyncio.Future[Outputs]


class Batcher:
    """Frames from any requests -> calls of up to B frames on ``jobs`` inference requests in flight.

    Args:
        engine: The compiled bundle (tensor input, B = ``engine.batch``).
        jobs: Inference requests in flight.
        max_wait_ms: How long a call holding a frame waits for more (B > 1).
    """

    def __init__(self, engine: Engine, jobs: int, max_wait_ms: float) -> None:
        self.engine = engine
        self.jobs = jobs
        self.max_wait_s = max(0.0, max_wait_ms) / 1000.0
        self.stats = BatchStats()
        self._pending: asyncio.Queue[_Item] | None = None
        self._task: asyncio.Task[None] | None = None

    async def infer(self, tensor: np.ndarray) -> Outputs:
        """The four outputs for ``tensor`` (``float32 [N, 3, H, W]``), its frames batched with others'.

        Raises:
            InferenceError: The inference failed.
        """
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done():
            self._pending = asyncio.Queue()
            self._task = loop.create_task(self._run(loop))
        assert self._pending is not None
        items = [_Item(frame, loop.create_future()) for frame in tensor]
        for item in items:
            self._pending.put_nowait(item)
        results = await asyncio.gather(*(item.future for item in items))
        if len(results) == 1:
            return results[0]
        return {name: np.concatenate([r[name] for r in results]) for name in OUTPUT_NAMES}

    async def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        assert self._pending is not None
        idle: asyncio.Queue[Any] = asyncio.Queue()
        for _ in range(self.jobs):
            idle.put_nowait(self.engine.compiled.create_infer_request())
        while True:
            request = await idle.get()  # first a free request, then the frames: none waits while all are busy
            items = [await self._pending.get()]
            deadline = loop.time() + self.max_wait_s
            while len(items) < self.engine.batch:
                if not self._pending.empty():
                    items.append(self._pending.get_nowait())
                    continue
                timeout = deadline - loop.time()
                if timeout <= 0:
                    break
                try:
                    items.append(await asyncio.wait_for(self._pending.get(), timeout))
                except TimeoutError:
                    break
            items = [item for item in items if not item.future.done()]  # the client went away
            if not items:
                idle.put_nowait(request)
                continue
            tensor = self.engine.batch_tensor([item.frame for item in items])
            started = time.perf_counter_ns()
            request.set_callback(self._done, (loop, idle, request, items, tensor, started))
            try:
                request.start_async({0: tensor}, share_inputs=True)
            except RuntimeError as error:
                self._finish(idle, request, items, None, error_reason(error), started)

    def _done(self, userdata: tuple[Any, ...]) -> None:
        # an OpenVINO thread holding the GIL: copy the outputs, hand them to the event loop
        loop, idle, request, items, _tensor, started = userdata
        try:
            outputs: Outputs | None = read_outputs(request)
            error = ""
        except RuntimeError as failure:
            outputs, error = None, error_reason(failure)
        loop.call_soon_threadsafe(self._finish, idle, request, items, outputs, error, started)

    def _finish(
        self,
        idle: asyncio.Queue[Any],
        request: Any,
        items: list[_Item],
        outputs: Outputs | None,
        error: str,
        started: int,
    ) -> None:
        idle.put_nowait(request)
        elapsed = time.perf_counter_ns() - started
        size = len(items)
        if outputs is None:
            self.stats.failed += size
            logger.error("inference of %d frames failed: %s", size, error)
        else:
            self.stats.frames += size
            self.stats.calls += 1
            self.stats.infer_ns += elapsed
            self.stats.by_size[size] += 1
            self.stats.ns_by_size[size] += elapsed
            self.stats.last_ms = int(time.time() * 1000)
        for j, item in enumerate(items):
            if item.future.done():
                continue
            if outputs is None:
                item.future.set_exception(InferenceError(f"inference failed: {error}"))
            else:
                item.future.set_result({name: value[j : j + 1] for name, value in outputs.items()})


class BundleModel(Model):
    """A bundle served as a kserve model named ``name``.

    Args:
        name: The model's name (``/v2/models/NAME``).
        bundle: The bundle folder.
        device: OpenVINO device.
        batch: Frames per inference call B.
        max_wait_ms: How long a call holding a frame waits for more.
        jobs: Inference requests in flight (0: the device's optimal number, at least 2).
        max_frames: Largest number of frames per request.
        advertise: What the metadata says the input is: ``frames`` (BGR ``UINT8 [-1, H, W, 3]``) or
            ``ir`` (the stored IR's ``FP32 [1, 3, H, W]``, what OVMS says of the exported repository,
            for clients written against OVMS). Every input form is accepted either way.
        core: An OpenVINO core (a fake one in tests).
    """

    def __init__(
        self,
        name: str,
        bundle: Path,
        *,
        device: str = "CPU",
        batch: int = 1,
        max_wait_ms: float = 5.0,
        jobs: int = 0,
        max_frames: int = MAX_FRAMES,
        advertise: str = "frames",
        core: Any = None,
    ) -> None:
        super().__init__(name)
        self.advertise = advertise
        self.bundle = Path(bundle)
        self.device = device
        self.batch = batch
        self.max_wait_ms = max_wait_ms
        self.jobs = jobs
        self.max_frames = max_frames
        self.core = core
        self.engine: Engine | None = None
        self.batcher: Batcher | None = None

    def load(self) -> bool:
        """Verify and compile the bundle (raises edgekit's one-line errors for a bad bundle or device)."""
        self.engine = Engine(
            self.bundle,
            self.device,
            hint=PerformanceHint.THROUGHPUT,
            batch=self.batch,
            core=self.core,
            tensor_input=True,
        )
        jobs = self.jobs if self.jobs > 0 else max(2, self.engine.optimal_requests)
        self.batcher = Batcher(self.engine, jobs, self.max_wait_ms)
        self.ready = True
        logger.info(
            "serving %s as %r on %s: %d frames per call, %d requests in flight",
            self.bundle,
            self.name,
            self.engine.device,
            self.batch,
            jobs,
        )
        return self.ready

    @property
    def hw(self) -> tuple[int, int]:
        """The frame size the model takes."""
        assert self.engine is not None
        return self.engine.grid.image_hw

    def get_input_types(self) -> list[dict[str, Any]]:
        """The advertised input: BGR ``UINT8 [-1, H, W, 3]``, or the IR's ``FP32 [1, 3, H, W]`` (all are accepted)."""
        h, w = self.hw
        if self.advertise == "ir":
            return [{"name": INPUT_NAME, "datatype": "FP32", "shape": [1, 3, h, w]}]
        return [{"name": INPUT_NAME, "datatype": "UINT8", "shape": [-1, h, w, 3]}]

    def get_output_types(self) -> list[dict[str, Any]]:
        """The four outputs of an anomalib model."""
        return output_types(self.hw)

    async def predict(
        self,
        payload: InferRequest,
        headers: dict[str, str] | None = None,  # noqa: ARG002 (kserve's signature)
        response_headers: dict[str, str] | None = None,  # noqa: ARG002
    ) -> InferResponse:
        """Decode the request (off the event loop), infer its frames in a shared batch, answer.

        Raises:
            InvalidInput: A request that breaks the input rules, or that names an unknown output.
        """
        assert self.batcher is not None
        if not isinstance(payload, InferRequest):
            msg = f"the request is not an Open Inference Protocol v2 request; accepted: {_accepted(self.hw)}"
            raise InvalidInput(msg)
        wanted = [o.name for o in payload.request_outputs or []] or list(OUTPUT_NAMES)
        unknown = [name for name in wanted if name not in OUTPUT_NAMES]
        if unknown:
            msg = f"requested outputs {unknown} are not outputs of {self.name!r}; accepted: {list(OUTPUT_NAMES)}"
            raise InvalidInput(msg)
        loop = asyncio.get_running_loop()
        tensor = await loop.run_in_executor(None, frames_of, payload, self.hw, self.max_frames)
        outputs = await self.batcher.infer(tensor)
        binary = bool(payload.request_outputs) and all(o.binary_data for o in payload.request_outputs)
        infer_outputs = []
        for name in wanted:
            value = np.ascontiguousarray(outputs[name])
            value = value.astype(bool) if _DATATYPES[name] == "BOOL" else value.astype(np.float32, copy=False)
            out = InferOutput(name=name, shape=list(value.shape), datatype=_DATATYPES[name])
            out.set_data_from_numpy(value, binary_data=binary or payload.from_grpc)
            infer_outputs.append(out)
        return InferResponse(
            response_id=payload.id or "",
            model_name=self.name,
            infer_outputs=infer_outputs,
            use_binary_outputs=binary,
            requested_outputs=payload.request_outputs,
            from_grpc=payload.from_grpc,
        )
