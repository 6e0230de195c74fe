"""``edgekit bench [BUNDLE] [--source SRC]``: edgekit vs the inference bound, FP32, naive OpenVINO and anomalib."""

from __future__ import annotations

from pathlib import Path

import click

from edgekit.bench.worker import MODES
from edgekit.cli._table import format_rows


@click.command("bench")
@click.argument("bundle", required=False, type=click.Path(path_type=Path))
@click.option(
    "--source",
    help="Video file, image folder, camera index or stream URL  [default: the demo video next to the bundle's data].",
)
@click.option("--device", default="CPU", show_default=True, help="OpenVINO device for the OpenVINO modes.")
@click.option("--frames", type=int, default=60, show_default=True, help="Measured frames per mode.")
@click.option("--warmup", type=int, default=5, show_default=True, help="Frames before measuring.")
@click.option(
    "--streams",
    type=int,
    default=1,
    show_default=True,
    help="Play the frames as this many cameras at once through one model in the runtime modes.",
)
@click.option("--modes", default=",".join(MODES), show_default=True, help="Comma-separated modes to run.")
@click.option(
    "--work",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("build/bench"),
    show_default=True,
    help="Where the benchmark builds what it needs and stores the frames.",
)
@click.option("--json", "json_path", type=click.Path(path_type=Path, dir_okay=False), help="Write the result JSON.")
@click.option("--plot", "plot_path", type=click.Path(path_type=Path, dir_okay=False), help="Write a PNG chart.")
@click.option("--no-progress", is_flag=True, help="Hide progress bars.")
def command(
    bundle: Path | None,
    source: str | None,
    device: str,
    frames: int,
    warmup: int,
    streams: int,
    modes: str,
    work: Path,
    json_path: Path | None,
    plot_path: Path | None,
    no_progress: bool,
) -> None:
    """Compare modes side by side, each in its own process, on the same stored frames.

    The source is decoded once (a short one is looped) and every mode measures those frames. Without
    a bundle a demo bundle is built; without --source the demo video next to the bundle's data is used.
    """
    from edgekit.artifacts.files import write_json
    from edgekit.bench.report import FPS, LATENCY, markdown, plot, ratio_line, rows, source_line
    from edgekit.bench.suite import bench

    result = bench(
        bundle,
        work=work,
        source=source,
        modes=tuple(m.strip() for m in modes.split(",") if m.strip()),
        frames=frames,
        warmup=warmup,
        device=device,
        streams=streams,
        progress=not no_progress,
    )
    click.echo(format_rows(rows(result)))
    click.echo(source_line(result))
    click.echo(f"{FPS}; {LATENCY}")
    click.echo(ratio_line(result))
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        write_json(json_path, {**result, "markdown": markdown(result)})
        click.echo(f"result: {json_path}")
    if plot_path is not None:
        plot(result, plot_path)
        click.echo(f"chart: {plot_path}")
    if result["frames_differ"]:
        click.echo(
            f"warning: modes {', '.join(result['frames_differ'])} measured other than {frames} frames "
            "(skipped or failed frames: see their JSON)",
            err=True,
        )
    if result["failed"]:
        click.echo(f"error: modes failed: {', '.join(result['failed'])}", err=True)
        raise SystemExit(1)
