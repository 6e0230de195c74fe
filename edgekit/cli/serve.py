"""``edgekit serve BUNDLE``: the bundle behind an Open Inference Protocol (KServe v2) server, REST and gRPC."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("serve")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--name", default="edgekit", show_default=True, help="The model's name: /v2/models/NAME.")
@click.option("--http-port", type=int, default=8080, show_default=True, help="REST port.")
@click.option("--grpc-port", type=int, default=8081, show_default=True, help="gRPC port.")
@click.option("--device", default="CPU", show_default=True, help="CPU, GPU, GPU.0, NPU, AUTO (see edgekit devices).")
@click.option(
    "--batch",
    default="auto",
    show_default=True,
    help="Frames per inference call, gathered from requests that arrive together: auto (1 on CPU, "
    "8 on GPU, 4 on NPU) or a number.",
)
@click.option(
    "--max-wait-ms",
    type=float,
    default=5.0,
    show_default=True,
    help="How long a call holding a frame waits for frames of other requests (batch > 1).",
)
@click.option(
    "--jobs", type=int, default=0, show_default=True, help="Inference requests in flight (0 = device optimum)."
)
@click.option(
    "--max-body-mb", type=float, default=64.0, show_default=True, help="Largest request body (REST) or message (gRPC)."
)
@click.option(
    "--advertise",
    type=click.Choice(["frames", "ir"]),
    default="frames",
    show_default=True,
    help="The input the model metadata names: frames (BGR UINT8 [-1,H,W,3]) or ir (the IR's FP32 [1,3,H,W], "
    "as OVMS names it); every form is accepted either way.",
)
def command(
    bundle: Path,
    name: str,
    http_port: int,
    grpc_port: int,
    device: str,
    batch: str,
    max_wait_ms: float,
    jobs: int,
    max_body_mb: float,
    advertise: str,
) -> None:
    """Serve BUNDLE over REST and gRPC (KServe v2) until SIGTERM/SIGINT; in-flight requests finish.

    Clients send BGR frames (UINT8 [N,H,W,3]), the IR's own input (FP32 [N,3,H,W], RGB in [0,1]) or
    JPEG/PNG files (BYTES [N]) to /v2/models/NAME/infer and get pred_score, pred_label, anomaly_map
    and pred_mask. `edgekit run --server http://HOST:PORT --source ...` streams cameras to it.
    """
    from edgekit.cli.run import _batch
    from edgekit.devices import auto_batch
    from edgekit.errors import ConfigError
    from edgekit.runtime.api import _NAME
    from edgekit.serve.model import MAX_FRAMES
    from edgekit.serve.server import serve

    for label, port in (("--http-port", http_port), ("--grpc-port", grpc_port)):
        if not 1 <= port <= 65535:
            msg = f"{label} {port} is out of range; accepted: 1 to 65535"
            raise ConfigError(msg)
    if http_port == grpc_port:
        msg = f"--http-port and --grpc-port are both {http_port}; accepted: two different ports"
        raise ConfigError(msg)
    if not _NAME.fullmatch(name):
        msg = f"--name {name!r} is not accepted; accepted: 1-64 letters, digits, '_', '.', '-'"
        raise ConfigError(msg)
    if not max_body_mb > 0:
        msg = f"--max-body-mb {max_body_mb} is out of range; accepted: > 0"
        raise ConfigError(msg)
    if jobs < 0:
        msg = f"--jobs {jobs} is out of range; accepted: >= 0 (0 = the device's optimum)"
        raise ConfigError(msg)
    frames = _batch(batch)
    serve(
        bundle,
        name=name,
        http_port=http_port,
        grpc_port=grpc_port,
        device=device,
        batch=auto_batch(device, MAX_FRAMES) if frames == "auto" else int(frames),
        max_wait_ms=max_wait_ms,
        jobs=jobs,
        max_body_mb=max_body_mb,
        advertise=advertise,
    )
