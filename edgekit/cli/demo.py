"""``edgekit demo``: the main job end to end on the embedded default, for a first run on a new machine.

Generates the real-photo demo data, trains the default 3x3 PaDiM ensemble (offline
efficientnet_lite0 weights) on one category and evaluates it. Each later stage (export, streaming)
joins this command as it lands.
"""

from __future__ import annotations

from pathlib import Path

import click

from edgekit.cli._table import fmt, format_rows


@click.command("demo")
@click.argument("out", type=click.Path(path_type=Path, file_okay=False), default=Path("build/demo"))
@click.option("--category", default="coffee", show_default=True, type=click.Choice(["gravel", "brick", "coffee"]))
@click.option("--size", default=512, show_default=True, type=int, help="Frame size of the demo data.")
@click.option("--model", default="padim", show_default=True,
              type=click.Choice(["padim", "patchcore", "stfpm", "fastflow"]))
@click.option("--no-progress", is_flag=True, help="Hide progress bars.")
def command(out: Path, category: str, size: int, model: str, no_progress: bool) -> None:
    """Run demo data -> train -> evaluate on the embedded default into OUT (default build/demo)."""
    from edgekit.demo import generate_demo_data
    from edgekit.devices import discover
    from edgekit.train.config import TrainConfig
    from edgekit.train.evaluate import METRIC_KEYS, evaluate_run
    from edgekit.train.fit import train

    progress = not no_progress
    devices = ", ".join(d.name for d in discover())
    click.echo(f"[1/3] demo data -> {out / 'data'} (OpenVINO devices: {devices})")
    generate_demo_data(out / "data", size=size, categories=[category], progress=progress)
    data = out / "data" / category
    run = out / "run"
    click.echo(f"[2/3] train {model} 3x3 ensemble on {data} -> {run}")
    config = TrainConfig(
        data=data, out=run, model=model, image_size=size, tile_size=size // 2, stride=size // 4, progress=progress
    )
    record = train(config).record
    click.echo(
        f"      {record.data['n_train']} images in {record.timing['total_s']:.1f} s, "
        f"peak RSS {record.timing['peak_rss_mb']:.0f} MiB; thresholds: {record.thresholds.method}"
    )
    click.echo(f"[3/3] evaluate on the test split (figures -> {out / 'figures'})")
    report = evaluate_run(run, data, figures=out / "figures", progress=progress)
    metrics = report.systems["ensemble"]
    click.echo(format_rows([("system", *METRIC_KEYS), ("ensemble", *(fmt(metrics[k]) for k in METRIC_KEYS))]))
