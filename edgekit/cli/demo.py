"""``edgekit demo``: the main job end to end on the embedded default, for a first run on a new machine.

demo data (real photos, small defects) -> train the default 3x3 PaDiM ensemble (offline
efficientnet_lite0 weights) -> evaluate -> export an NNCF INT8 OpenVINO bundle -> stream the demo
video through the runtime -> report (recall and false alarms against the video's sidecar).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgekit.cli._table import fmt, format_rows


@click.command("demo")
@click.argument("out", type=click.Path(path_type=Path, file_okay=False), default=Path("build/demo"))
@click.option("--category", default="coffee", show_default=True, type=click.Choice(["gravel", "brick", "coffee"]))
@click.option("--size", default=512, show_default=True, type=int, help="Frame size of the demo data.")
@click.option(
    "--model", default="padim", show_default=True, type=click.Choice(["padim", "patchcore", "stfpm", "fastflow"])
)
@click.option("--no-progress", is_flag=True, help="Hide progress bars.")
def command(out: Path, category: str, size: int, model: str, no_progress: bool) -> None:
    """Run demo data -> train -> evaluate -> export INT8 -> stream the demo video, into OUT (default build/demo)."""
    from edgekit.demo import generate_demo_data
    from edgekit.devices import discover
    from edgekit.evaluation import METRIC_KEYS
    from edgekit.export.bundle import export_bundle
    from edgekit.runtime import run
    from edgekit.train.config import TrainConfig
    from edgekit.train.evaluate import evaluate_run
    from edgekit.train.fit import train

    progress = not no_progress
    devices = ", ".join(d.name for d in discover())
    click.echo(f"[1/5] demo data -> {out / 'data'} (OpenVINO devices: {devices})")
    generate_demo_data(out / "data", size=size, categories=[category], progress=progress)
    data = out / "data" / category
    run_dir = out / "run"
    click.echo(f"[2/5] train a 3x3 {model} ensemble on {data} -> {run_dir}")
    config = TrainConfig(
        data=data, out=run_dir, model=model, image_size=size, tile_size=size // 2, stride=size // 4, progress=progress
    )
    record = train(config).record
    click.echo(
        f"      {record.data['n_train']} images in {record.timing['total_s']:.1f} s, "
        f"peak RSS {record.timing['peak_rss_mb']:.0f} MiB; thresholds: {record.thresholds.method}, "
        f"fitted on {record.data['val_source']}"
    )
    click.echo(f"[3/5] evaluate on the test split (figures -> {out / 'figures'})")
    report = evaluate_run(run_dir, data, figures=out / "figures", progress=progress)
    metrics = report.systems["ensemble"]
    click.echo(format_rows([("system", *METRIC_KEYS), ("ensemble", *(fmt(metrics[k]) for k in METRIC_KEYS))]))
    bundle = out / "bundle"
    click.echo(f"[4/5] export NNCF INT8 OpenVINO bundle -> {bundle}")
    exported = export_bundle(run_dir, bundle, precision="int8", calib_size=record.data["n_train"])
    delta = exported.manifest.accuracy["delta"]
    click.echo(
        f"      INT8 vs FP32: image AUROC {delta['image_auroc']:+.4f}, pixel AUPRO {delta['pixel_aupro']:+.4f}; "
        f"IR {exported.manifest.sizes['ir_bytes'] / 2**20:.0f} MiB"
    )
    sidecar = json.loads((data / "stream.json").read_text())
    video = data / sidecar["video"]
    stream_out = out / "stream"
    click.echo(f"[5/5] stream {video} through the runtime -> {stream_out}")
    run_report = run(bundle, str(video), device="CPU", out=stream_out, overlays=True)
    truth = {d["index"] if isinstance(d, dict) else int(d) for d in sidecar["defective_frames"]}
    flagged = set()
    with (stream_out / "results.jsonl").open() as lines:
        for line in lines:
            row = json.loads(line)
            if row["label"] == "anomalous":
                flagged.add(row["index"])
    e2e = run_report.latency_ms.get("process", {})
    click.echo(
        f"      {run_report.frames} frames at {run_report.fps:.2f} fps (processing p50 {e2e.get('p50', 0):.0f} ms, "
        f"p99 {e2e.get('p99', 0):.0f} ms), peak RSS {run_report.peak_rss_mb:.0f} MiB"
    )
    click.echo(
        f"      defective frames flagged: {len(truth & flagged)}/{len(truth)} (recall), "
        f"false alarms: {len(flagged - truth)}/{run_report.frames - len(truth)} normal frames"
    )
    click.echo(f"done: report {stream_out / 'report.json'}, overlays {stream_out / 'overlays'}")
