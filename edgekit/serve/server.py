"""``edgekit serve``: kserve's ModelServer around :class:`edgekit.serve.model.BundleModel`, REST and gRPC.

Four things kserve 0.21 does not do the way a bundle's clients need, set right here:

* REST binary inputs (the binary tensor extension tritonclient uses) stay bytes. kserve's own
  decoder re-encodes every binary input as JSON data: BYTES through UTF-8 (a PNG fails with a 500)
  and numbers through Python lists (a 512 x 512 frame costs ~100 ms).
* Bodies over ``max_body_mb`` get a 413 from the HTTP server; gRPC messages over it get
  RESOURCE_EXHAUSTED (gRPC's own limit, raised to the same size).
* Client errors (kserve's ``InvalidInput``, ``ModelNotFound``) are logged as one line, not a traceback.
* ``GET /v2/models/NAME/stats`` answers Triton's statistics extension (frames, calls, batch sizes).

kserve reads ``sys.argv`` when it is imported; edgekit's own arguments are hidden from it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import sys
import warnings
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

from edgekit._extras import require

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: Inference header length, as the binary tensor extension names it.
_HEADER = "inference-header-content-length"


@contextlib.contextmanager
def _argv_hidden() -> Iterator[None]:
    saved = sys.argv
    sys.argv = saved[:1]
    try:
        yield
    finally:
        sys.argv = saved


def import_kserve() -> Any:
    """Import kserve (the ``serve`` extra) without letting it parse edgekit's command line."""
    with _argv_hidden():
        require("kserve", "serve")
        import kserve.model_server

    return kserve.model_server


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes gets a 413 with one line, whether declared or streamed."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def _refuse(self, send: Send, size: str) -> None:
        body = json.dumps(
            {"error": f"request body of {size} is over the server's limit of {self.limit} bytes (--max-body-mb)"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, or answer 413 once its body is over the limit."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send, f"{int(declared)} bytes")
            return
        received = 0
        started = False

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _TooLarge
            return message

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, tracking)
        except _TooLarge:
            if not started:
                await self._refuse(send, f"more than {self.limit} bytes")


class _OneLineClientErrors(logging.Filter):
    """kserve logs every client error with its traceback; a client's mistake is one line in the server log."""

    def __init__(self, client_errors: tuple[type[BaseException], ...]) -> None:
        super().__init__()
        self.client_errors = client_errors

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, self.client_errors):
            record.msg, record.args, record.exc_info = "client error: %s", (error,), None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def _binary_request(body: bytes, header_length: str | None, model_name: str) -> Any:
    """A REST request with binary inputs -> kserve's ``InferRequest``, inputs kept as bytes.

    Raises:
        InvalidInput: A header length or binary sizes that do not fit the body, or a JSON header that
            is not an inference request.
    """
    from kserve.errors import InvalidInput
    from kserve.protocol.infer_type import InferInput, InferRequest, RequestedOutput

    try:
        json_length = int(header_length or "")
    except ValueError:
        msg = f"header {_HEADER} is {header_length!r}; accepted: the length of the JSON part of the body"
        raise InvalidInput(msg) from None
    if not 0 < json_length <= len(body):
        msg = f"header {_HEADER} is {json_length}, the body holds {len(body)} bytes; accepted: 1 to {len(body)}"
        raise InvalidInput(msg)
    try:
        header = json.loads(body[:json_length])
        specs = list(header["inputs"])
    except (ValueError, KeyError, TypeError) as error:
        msg = f"the JSON part of the body is not an inference request with 'inputs' ({error})"
        raise InvalidInput(msg) from None
    start = json_length
    inputs = []
    for spec in specs:
        try:
            name, shape, datatype = str(spec["name"]), list(spec["shape"]), str(spec["datatype"])
            parameters = dict(spec.get("parameters") or {})
        except (KeyError, TypeError) as error:
            msg = f"an input of the request lacks name, shape or datatype ({error})"
            raise InvalidInput(msg) from None
        tensor = InferInput(name=name, shape=shape, datatype=datatype, parameters=parameters)
        size = parameters.pop("binary_data_size", None)
        if size is not None:
            if not isinstance(size, int) or size < 0 or start + size > len(body):
                msg = f"input {name!r} declares {size!r} binary bytes; the body holds {len(body) - start} more"
                raise InvalidInput(msg)
            tensor._raw_data = body[start : start + size]  # kserve's field for a tensor's raw bytes
            start += size
        elif spec.get("data") is not None:
            tensor.data = spec["data"]
        else:
            msg = f"input {name!r} has neither 'data' nor 'binary_data_size'"
            raise InvalidInput(msg)
        inputs.append(tensor)
    if start != len(body):
        msg = f"the body holds {len(body) - start} bytes beyond its declared inputs"
        raise InvalidInput(msg)
    outputs = [
        RequestedOutput(name=str(o.get("name")), parameters=o.get("parameters"))
        for o in header.get("outputs") or []
        if isinstance(o, dict)
    ] or None
    return InferRequest(
        model_name=model_name,
        request_id=header.get("id"),
        parameters=header.get("parameters"),
        infer_inputs=inputs,
        request_outputs=outputs,
    )


def check_port(port: int, label: str) -> None:
    """Refuse a port another process listens on (gRPC would otherwise share it silently, SO_REUSEPORT).

    Raises:
        ConfigError: The port is taken.
    """
    from edgekit.errors import ConfigError

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("0.0.0.0", port))  # the server listens on every interface
        except OSError as error:
            msg = f"{label} {port} is not free ({error.strerror}); accepted: a port no other process listens on"
            raise ConfigError(msg) from None


def serve(
    bundle: Path,
    *,
    name: str = "edgekit",
    http_port: int = 8080,
    grpc_port: int = 8081,
    device: str = "CPU",
    batch: int = 1,
    max_wait_ms: float = 5.0,
    jobs: int = 0,
    max_body_mb: float = 64.0,
    advertise: str = "frames",
) -> None:
    """Serve the bundle until SIGTERM or SIGINT (in-flight requests finish).

    Args:
        bundle: The bundle folder.
        name: The model's name (``/v2/models/NAME``).
        http_port: REST port (0.0.0.0).
        grpc_port: gRPC port.
        device: OpenVINO device.
        batch: Frames per inference call.
        max_wait_ms: How long a call holding a frame waits for more frames.
        jobs: Inference requests in flight (0: the device's optimum).
        max_body_mb: Largest request body (REST) or message (gRPC).
        advertise: The input the metadata names: ``frames`` or ``ir`` (see :class:`BundleModel`).

    Raises:
        ArtifactError, DeviceError, ConfigError: A bad bundle, device or option (before listening).
    """
    ms = import_kserve()
    # kserve 0.21's app asks for ORJSONResponse, which FastAPI deprecates once per route: not the user's concern
    warnings.filterwarnings("ignore", message="ORJSONResponse is deprecated")
    from kserve.errors import InvalidInput, ModelNotFound
    from kserve.protocol.dataplane import DataPlane
    from starlette.responses import JSONResponse

    from edgekit.serve.model import BundleModel

    check_port(http_port, "--http-port")
    check_port(grpc_port, "--grpc-port")
    limit = int(max_body_mb * 1024 * 1024)
    model = BundleModel(
        name, Path(bundle), device=device, batch=batch, max_wait_ms=max_wait_ms, jobs=jobs, advertise=advertise
    )
    model.load()

    class EdgekitDataPlane(DataPlane):
        def decode(self, body: Any, headers: Any, protocol_version: str = "v1", model_name: str | None = None) -> Any:
            if isinstance(body, bytes) and headers and _HEADER in headers:
                return _binary_request(body, headers[_HEADER], model_name or name), {}
            return super().decode(body, headers, protocol_version, model_name)

    ms.args.grpc_max_receive_message_length = limit
    ms.args.grpc_max_send_message_length = max(limit, 256 * 1024 * 1024)
    ms.args.enable_latency_logging = False
    server = ms.ModelServer(http_port=http_port, grpc_port=grpc_port, enable_latency_logging=False)
    server.dataplane = EdgekitDataPlane(model_registry=server.registered_models)
    app = ms.app

    async def stats(model_name: str) -> JSONResponse:
        wanted = model_name
        if wanted != name:
            return JSONResponse({"error": f"Model with name {wanted} does not exist."}, status_code=404)
        assert model.batcher is not None
        return JSONResponse({"model_stats": [model.batcher.stats.to_triton(name)]})

    app.add_api_route("/v2/models/{model_name}/stats", stats, methods=["GET"])
    app.add_middleware(BodyLimit, limit=limit)
    one_line = _OneLineClientErrors((InvalidInput, ModelNotFound))
    for logger_name in ("kserve", "kserve.trace"):
        logging.getLogger(logger_name).addFilter(one_line)
    logger.warning(
        "edgekit serve: model %r from %s on %s; REST :%d, gRPC :%d (Open Inference Protocol v2)",
        name,
        bundle,
        model.engine.device if model.engine else device,
        http_port,
        grpc_port,
    )
    with _argv_hidden():
        server.start([model])
