"""Inference on an Open Inference Protocol (KServe v2) server: ``edgekit run --server URL``.

:class:`RemoteEngine` stands where :class:`edgekit.runtime.engine.Engine` stands in a local run. The
stream, results.jsonl, report and MQTT stay the same; the calls go to a server over tritonclient's
HTTP or gRPC client, several in flight. What to send is read from the model's metadata:

* ``UINT8 [B, H, W, 3]`` (``edgekit serve``, or OVMS serving a uint8 NHWC model): the BGR frames as
  they are;
* ``FP32 [B, 3, H, W]`` (the stored IR as OVMS or KServe serve it): RGB in [0, 1], converted here by
  :func:`edgekit.artifacts.ir.to_input`, the one definition of that conversion.

A fixed batch dimension (OVMS's static ``[1, 3, H, W]``) limits B to it. Needs the ``client`` extra
(tritonclient).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from edgekit._extras import require
from edgekit.artifacts.ir import INPUT_NAME, OUTPUT_NAMES, to_input
from edgekit.errors import ConfigError, DataError, DeviceError
from edgekit.runtime.engine import Outputs, call_tensor, frame_result, predict_frame
from edgekit.runtime.frames import FramePrep
from edgekit.runtime.result import FrameResult

logger = logging.getLogger(__name__)

_SCHEMES = {"http": "http", "https": "http", "grpc": "grpc", "grpcs": "grpc"}


@dataclass(frozen=True)
class ServerUrl:
    """Where the server is and which protocol to speak.

    Attributes:
        protocol: ``http`` (REST) or ``grpc``.
        address: ``host:port`` as tritonclient takes it.
        ssl: TLS (``https://`` or ``grpcs://``).
        text: The URL as given.
    """

    protocol: str
    address: str
    ssl: bool
    text: str


def parse_server_url(url: str) -> ServerUrl:
    """``http://HOST:PORT``, ``https://...``, ``grpc://HOST:PORT`` or ``HOST:PORT`` (REST).

    Raises:
        ConfigError: Another scheme, no host or a bad port.
    """
    text = url.strip()
    parts = urlsplit(text if "://" in text else f"http://{text}")
    accepted = "http://HOST[:PORT], https://HOST[:PORT], grpc://HOST[:PORT] or HOST:PORT"
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in _SCHEMES or not parts.hostname or port == -1 or parts.path not in ("", "/"):
        msg = f"--server {url!r} is not accepted; accepted: {accepted}"
        raise ConfigError(msg)
    protocol = _SCHEMES[parts.scheme]
    port = port or (8081 if protocol == "grpc" else 8080)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return ServerUrl(protocol, f"{host}:{port}", parts.scheme.endswith("s"), text)


def _reason(error: BaseException) -> str:
    text = str(getattr(error, "message", lambda: None)() or error).strip()
    return (text.splitlines() or [type(error).__name__])[-1]


class RemoteEngine:
    """A model served by an Open Inference Protocol server, in the shape the stream expects of an engine.

    Args:
        url: The server (see :func:`parse_server_url`).
        name: The model's name on the server.
        batch: Frames per call B (at most the model's fixed batch, if it has one).
        strict: Refuse frames whose size differs from the model's.
        timeout_s: Seconds a call may take.

    Raises:
        DeviceError: The server can't be reached, or the model is not there or not ready.
        ArtifactError: The model's metadata is not that of an anomaly model edgekit can feed.
    """

    static_batch = False
    compile_s = 0.0

    def __init__(
        self, url: str, name: str = "edgekit", *, batch: int = 1, strict: bool = False, timeout_s: float = 30.0
    ) -> None:
        self.url = parse_server_url(url)
        self.name = name
        self.timeout_s = timeout_s
        self._module = require(f"tritonclient.{self.url.protocol}", "client")
        # the server's refusals, and the transport's failures (refused, reset, timed out)
        self._errors = (require("tritonclient.utils", "client").InferenceServerException, OSError)
        self._local = threading.local()
        self.device = f"server {self.url.text} ({self.url.protocol}, model {name})"
        t0 = time.perf_counter()
        client = self.client()
        try:
            ready = client.is_server_live() and client.is_model_ready(name)
            metadata = client.get_model_metadata(name)
        except self._errors as error:
            msg = f"server {self.url.text} did not answer for model {name!r}: {_reason(error)}"
            raise DeviceError(msg) from None
        if not ready:
            msg = f"model {name!r} on server {self.url.text} is not ready"
            raise DeviceError(msg)
        self.connect_s = time.perf_counter() - t0
        self.input_kind, self.image_hw, fixed = self._read_metadata(metadata)
        if fixed is not None and batch > fixed:
            logger.warning("the served model takes %d frame(s) per call; --batch %d lowered to it", fixed, batch)
            batch = fixed
        self.batch = batch
        self.fixed_batch = fixed
        self.prep = FramePrep(self.image_hw, strict=strict)
        logger.info("model %r on %s takes %s %s", name, self.url.text, self.input_kind, self.image_hw)

    def client(self) -> Any:
        """This thread's client (tritonclient's clients are not shared between threads)."""
        client = getattr(self._local, "client", None)
        if client is None:
            if self.url.protocol == "http":
                timeouts = {"connection_timeout": self.timeout_s, "network_timeout": self.timeout_s}
                client = self._module.InferenceServerClient(self.url.address, ssl=self.url.ssl, **timeouts)
            else:
                client = self._module.InferenceServerClient(self.url.address, ssl=self.url.ssl)
            self._local.client = client
        return client

    def _read_metadata(self, metadata: Any) -> tuple[str, tuple[int, int], int | None]:
        """``(UINT8 | FP32, (H, W), fixed batch or None)`` from the model's metadata."""
        from edgekit.errors import ArtifactError

        if not isinstance(metadata, dict):  # gRPC answers a protobuf message
            from google.protobuf.json_format import MessageToDict

            metadata = MessageToDict(metadata, preserving_proto_field_name=True)
        inputs = metadata.get("inputs") or []
        outputs = {o.get("name") for o in metadata.get("outputs") or []}
        missing = [name for name in OUTPUT_NAMES if name not in outputs]
        if len(inputs) != 1 or missing:
            msg = (
                f"model {self.name!r} on {self.url.text} has inputs {[i.get('name') for i in inputs]} and lacks "
                f"outputs {missing}; accepted: one input and the outputs {list(OUTPUT_NAMES)} (an edgekit bundle)"
            )
            raise ArtifactError(msg)
        spec = inputs[0]
        self.input_name = spec.get("name", INPUT_NAME)
        shape = [int(d) for d in spec.get("shape", [])]
        datatype = spec.get("datatype")
        if datatype == "UINT8" and len(shape) == 4 and shape[3] == 3:
            hw = (shape[1], shape[2])
        elif datatype == "FP32" and len(shape) == 4 and shape[1] == 3:
            hw = (shape[2], shape[3])
        else:
            msg = (
                f"model {self.name!r} on {self.url.text} takes {datatype} {shape}; accepted: UINT8 [N,H,W,3] BGR "
                "or FP32 [N,3,H,W] RGB in [0,1]"
            )
            raise ArtifactError(msg)
        if min(hw) < 1:
            msg = f"model {self.name!r} on {self.url.text} takes frames of size {hw}; accepted: a fixed H and W"
            raise ArtifactError(msg)
        return datatype, hw, (shape[0] if shape[0] > 0 else None)

    @property
    def precision(self) -> str:
        """The model's precision is the server's business: ``remote``."""
        return "remote"

    @property
    def optimal_requests(self) -> int:
        """Calls in flight: enough to cover the network's round trip and keep the server's requests busy."""
        return 4

    def batch_tensor(self, images: list[np.ndarray]) -> np.ndarray:
        """One call's ``uint8 [k, H, W, 3]`` from k <= B prepared frames (padded where the batch is fixed)."""
        return call_tensor(images, self.batch, self.fixed_batch)

    def infer(self, frames: np.ndarray) -> Outputs:
        """One call: ``uint8 [k, H, W, 3]`` BGR frames -> the four outputs of the k frames.

        Raises:
            DataError: The server refused the call or did not answer (one line, the server's reason).
        """
        module = self._module
        tensor = frames if self.input_kind == "UINT8" else to_input(frames)
        request = module.InferInput(self.input_name, list(tensor.shape), self.input_kind)
        if self.url.protocol == "http":
            request.set_data_from_numpy(tensor, binary_data=True)
            wanted = [module.InferRequestedOutput(name, binary_data=True) for name in OUTPUT_NAMES]
        else:
            request.set_data_from_numpy(tensor)
            wanted = [module.InferRequestedOutput(name) for name in OUTPUT_NAMES]
        deadline = {} if self.url.protocol == "http" else {"client_timeout": self.timeout_s}  # HTTP: on the client
        try:
            answer = self.client().infer(self.name, [request], outputs=wanted, **deadline)
        except self._errors as error:
            msg = f"server {self.url.text}: {_reason(error)}"
            raise DataError(msg) from None
        return {name: answer.as_numpy(name) for name in OUTPUT_NAMES}

    def predict(self, frame: np.ndarray, index: int = 0, timestamp: float = 0.0) -> FrameResult:
        """Run one frame synchronously (as :meth:`Engine.predict`)."""
        return predict_frame(self, frame, index, timestamp)

    def finish(
        self,
        outputs: Outputs,
        index: int = 0,
        timestamp: float = 0.0,
        source_hw: tuple[int, int] | None = None,
        timings: dict[str, float] | None = None,
    ) -> FrameResult:
        """The server's outputs for one frame -> a result (the same rule as a local run)."""
        return frame_result(outputs, self.image_hw, index, timestamp, source_hw, timings)

    def infer_queue(self, jobs: int, done: Callable[[Outputs | None, Any, str], None]) -> RemoteInferQueue:
        """Up to ``jobs`` calls in flight; ``done(outputs, userdata, error)`` per call."""
        return RemoteInferQueue(self, jobs, done)


class RemoteInferQueue:
    """Calls to the server on ``jobs`` threads, each with its own client; the callback runs on them."""

    def __init__(self, engine: RemoteEngine, jobs: int, done: Callable[[Outputs | None, Any, str], None]) -> None:
        self.engine = engine
        self._done = done
        self._pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="edgekit-remote")
        self._futures: set[Any] = set()
        self._lock = threading.Lock()

    def _call(self, tensor: np.ndarray, userdata: Any) -> None:
        try:
            outputs: Outputs | None = self.engine.infer(tensor)
            error = ""
        except DataError as failure:
            outputs, error = None, str(failure)
        self._done(outputs, userdata, error)

    def start_async(self, tensor: np.ndarray, userdata: Any) -> None:
        """Queue one call (runs as soon as a thread is free)."""
        future = self._pool.submit(self._call, tensor, userdata)
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: Any) -> None:
        with self._lock:
            self._futures.discard(future)

    def wait_all(self) -> None:
        """Wait for every call in flight."""
        with self._lock:
            futures = list(self._futures)
        for future in futures:
            future.result()
