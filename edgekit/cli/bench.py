"""``edgekit bench [BUNDLE]``: edgekit vs the inference bound, FP32, naive OpenVINO and anomalib, on this machine."""

from __future__ import annotations

from pathlib import Path

import click

from edgekit.cli._table import format_rows


@click.command("bench")
@click.argument("bundle", required=False, type=click.Path(path_type=Path))
@click.option("--device", default="CPU", show_default=True, help="OpenVINO device for the OpenVINO modes.")
@click.option("--frames", type=int, default=60, show_default=True, help="Measured frames per mode.")
@click.option("--warmup", type=int, default=5, show_default=True, help="Frames before measuring.")
@click.option("--modes", default="bound,edgekit,edgekit_fp32,naive,anomalib", show_default=True)
@click.option(
    "--work",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("build/bench"),
    show_default=True,
    help="Where the benchmark builds what it needs.",
)
@click.option("--json", "json_path", type=click.Path(path_type=Path, dir_okay=False), help="Write the result JSON.")
@click.option("--plot", "plot_path", type=click.Path(path_type=Path, dir_okay=False), help="Write a PNG chart.")
@click.option("--no-progress", is_flag=True, help="Hide progress bars.")
def command(
    bundle: Path | None,
    device: str,
    frames: int,
    warmup: int,
    modes: str,
    work: Path,
    json_path: Path | None,
    plot_path: Path | None,
    no_progress: bool,
) -> None:
    """Compare modes side by side, each in its own process, on the same frames (builds a demo bundle if none)."""
    from edgekit.artifacts.files import write_json
    from edgekit.bench.report import markdown, plot, rows
    from edgekit.bench.suite import bench

    result = bench(
        bundle,
        work=work,
        modes=tuple(m.strip() for m in modes.split(",") if m.strip()),
        frames=frames,
        warmup=warmup,
        device=device,
        progress=not no_progress,
    )
    click.echo(format_rows(rows(result)))
    r = result["ratios"]
    click.echo(
        f"edgekit vs anomalib {r.get('edgekit_vs_anomalib')}x, fused vs naive (FP32) {r.get('fused_vs_naive')}x, "
        f"edgekit vs bound {r.get('edgekit_vs_bound')}, INT8 vs FP32 {r.get('int8_vs_fp32')}x"
    )
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        write_json(json_path, {**result, "markdown": markdown(result)})
        click.echo(f"result: {json_path}")
    if plot_path is not None:
        plot(result, plot_path)
        click.echo(f"chart: {plot_path}")
    if result["failed"]:
        click.echo(f"error: modes failed: {', '.join(result['failed'])}", err=True)
        raise SystemExit(1)
