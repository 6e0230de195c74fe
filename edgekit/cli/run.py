"""``edgekit run BUNDLE --source [NAME=]SRC ...``: stream one or more sources through one bundle."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import click


class _StopEvent(threading.Event):
    """A stop event that remembers which signal set it."""

    reason = "signal"


@click.command("run")
@click.argument("bundle", type=click.Path(path_type=Path), required=False)
@click.option(
    "--source",
    "sources",
    required=True,
    multiple=True,
    help="[NAME=]SRC: camera index, /dev/videoN, rtsp:// or http(s):// URL, video file or folder; "
    "repeat for several cameras (NAME defaults to the position: 0, 1, ...).",
)
@click.option(
    "--batch",
    default="auto",
    show_default=True,
    help="Frames per inference call: auto (1 on CPU, one per stream up to 8 on GPU, 4 on NPU) or a number.",
)
@click.option(
    "--max-wait-ms",
    type=float,
    default=10.0,
    show_default=True,
    help="How long a call holding a frame waits for more frames of any stream.",
)
@click.option("--queue-size", type=int, default=8, show_default=True, help="Frames queued per source.")
@click.option(
    "--reconnect",
    default="5",
    show_default=True,
    help="Reopen attempts of a live source that stops: a number or 'forever'.",
)
@click.option(
    "--server",
    help="Infer on an Open Inference Protocol server instead of here: http://HOST:PORT (REST) or "
    "grpc://HOST:PORT (edgekit serve, OVMS, KServe); BUNDLE is then not needed.",
)
@click.option("--name", "model_name", default="edgekit", show_default=True, help="The model's name on --server.")
@click.option("--mqtt", help="Publish results to mqtt://HOST[:PORT][/PREFIX] (prefix default edgekit).")
@click.option("--device", default="CPU", show_default=True, help="CPU, GPU, GPU.0, NPU, AUTO (see edgekit devices).")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), help="Write results.jsonl, report.json here.")
@click.option("--overlays", is_flag=True, help="Write a PNG overlay per anomalous frame to OUT/overlays.")
@click.option("--max-frames", type=int, help="Stop after this many frames.")
@click.option("--strict", is_flag=True, help="Refuse frames whose size differs from the bundle's grid.")
@click.option("--jobs", type=int, default=0, show_default=True, help="Requests in flight (0 = device optimum).")
@click.option("--warmup", type=int, default=5, show_default=True, help="Frames left out of fps and percentiles.")
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False), help="Compile cache (GPU/NPU).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
def command(
    bundle: Path | None,
    sources: tuple[str, ...],
    batch: str,
    max_wait_ms: float,
    queue_size: int,
    reconnect: str,
    server: str | None,
    model_name: str,
    mqtt: str | None,
    device: str,
    out: Path | None,
    overlays: bool,
    max_frames: int | None,
    strict: bool,
    jobs: int,
    warmup: int,
    cache_dir: Path | None,
    as_json: bool,
) -> None:
    """Stream the sources through BUNDLE; SIGINT/SIGTERM stop cleanly (in-flight frames finish, report written).

    A second SIGINT/SIGTERM exits at once (exit code 130); results.jsonl still holds only whole lines.
    """
    from edgekit.errors import ConfigError
    from edgekit.runtime import run

    if bundle is None and server is None:
        msg = "no BUNDLE given; accepted: edgekit run BUNDLE --source ..., or edgekit run --server URL --source ..."
        raise ConfigError(msg)
    if bundle is not None and server is not None:
        msg = f"both BUNDLE {bundle} and --server {server} given; accepted: one of them (where the model runs)"
        raise ConfigError(msg)
    if overlays and out is None:
        msg = "--overlays needs --out DIR (overlays are written to DIR/overlays)"
        raise ConfigError(msg)
    if max_frames is not None and max_frames < 1:
        msg = f"--max-frames {max_frames} is out of range; accepted: >= 1"
        raise ConfigError(msg)
    frames_per_call = _batch(batch)
    attempts = _reconnect(reconnect)
    publisher = None
    if mqtt is not None:
        from edgekit.runtime.mqtt import MqttSink, parse_mqtt_url

        publisher = MqttSink(parse_mqtt_url(mqtt))
    stop = _StopEvent()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():  # the second one: the user means it
            click.echo(f"\n{signal.Signals(signum).name} again: exiting now", err=True)
            os._exit(130)
        stop.reason = signal.Signals(signum).name
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    live = sys.stderr.isatty() and not as_json

    def console(result: Any, frames: int, fps: float) -> None:
        if live:
            ms = result.timings_ms.get("e2e", 0.0)
            flag = "ANOMALY" if result.label else "ok"
            click.echo(f"\rframes {frames}  {fps:5.1f} fps  latency {ms:7.1f} ms  last {flag:<7}", nl=False, err=True)

    try:
        report = run(
            bundle if bundle is not None else str(server),
            list(sources),
            device=device,
            batch=frames_per_call,
            max_wait_ms=max_wait_ms,
            queue_size=queue_size,
            reconnect=attempts,
            publisher=publisher,
            out=out,
            overlays=overlays,
            max_frames=max_frames,
            strict=strict,
            jobs=jobs,
            warmup=warmup,
            stop_event=stop,
            on_result=console,
            cache_dir=cache_dir,
            server=server,
            model_name=model_name,
        )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if live:
        click.echo("", err=True)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    e2e = report.latency_ms.get("e2e", {})
    click.echo(
        f"{report.frames} frames ({report.anomalous} anomalous) on {report.device} [{report.precision}]: "
        f"{report.fps:.2f} fps, latency p50 {e2e.get('p50', 0):.1f} / p95 {e2e.get('p95', 0):.1f} / "
        f"p99 {e2e.get('p99', 0):.1f} ms; dropped {report.dropped}, skipped {report.skipped}, "
        f"frame errors {report.frame_errors}, "
        f"reconnects {report.reconnects}; peak RSS {report.peak_rss_mb:.0f} MiB; stopped by {report.stopped_by}"
    )
    if len(report.streams) > 1:
        for st in report.streams:
            click.echo(
                f"  {st['name']}: {st['frames']} frames, {st['fps']:.2f} fps, e2e p50 {st['e2e_ms']['p50']:.1f} / "
                f"p99 {st['e2e_ms']['p99']:.1f} ms, dropped {st['dropped']}, skipped {st['skipped']}, "
                f"errors {st['frame_errors']}, reconnects {st['reconnects']}{', LOST' if st['source_lost'] else ''}"
            )
        click.echo(f"  batch {report.batch}: calls by frames held {report.batch_sizes}")
    if report.publish is not None:
        click.echo(f"mqtt: {report.publish}")
    if out is not None:
        click.echo(f"results: {out / 'results.jsonl'}, report: {out / 'report.json'}")


def _batch(value: str) -> int | str:
    from edgekit.errors import ConfigError

    if value.strip().lower() == "auto":
        return "auto"
    try:
        number = int(value)
    except ValueError:
        number = 0
    if not 1 <= number <= 64:
        msg = f"--batch {value!r} is not accepted; accepted: auto or a number of frames from 1 to 64"
        raise ConfigError(msg)
    return number


def _reconnect(value: str) -> int | None:
    from edgekit.errors import ConfigError

    if value.strip().lower() == "forever":
        return None
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        msg = f"--reconnect {value!r} is not accepted; accepted: a number of attempts >= 0, or forever"
        raise ConfigError(msg)
    return number
