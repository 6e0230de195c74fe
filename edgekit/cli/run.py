"""``edgekit run BUNDLE --source SRC``: stream frames through a bundle, write results and a report."""

from __future__ import annotations

import json
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
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option(
    "--source",
    required=True,
    help="Camera index, /dev/videoN, rtsp:// or http(s):// URL, video file or folder.",
)
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
    bundle: Path,
    source: str,
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
    """Stream SOURCE through BUNDLE; SIGINT/SIGTERM stop cleanly (in-flight frames finish, report written)."""
    from edgekit.errors import ConfigError
    from edgekit.runtime import run

    if overlays and out is None:
        msg = "--overlays needs --out DIR (overlays are written to DIR/overlays)"
        raise ConfigError(msg)
    if max_frames is not None and max_frames < 1:
        msg = f"--max-frames {max_frames} is out of range; accepted: >= 1"
        raise ConfigError(msg)
    stop = _StopEvent()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
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
            bundle,
            source,
            device=device,
            out=out,
            overlays=overlays,
            max_frames=max_frames,
            strict=strict,
            jobs=jobs,
            warmup=warmup,
            stop_event=stop,
            on_result=console,
            cache_dir=cache_dir,
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
    if out is not None:
        click.echo(f"results: {out / 'results.jsonl'}, report: {out / 'report.json'}")
