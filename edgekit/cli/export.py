"""``edgekit export RUN --out BUNDLE``: one standard OpenVINO IR (NNCF INT8, FP16 or FP32) with a manifest."""

from __future__ import annotations

from pathlib import Path

import click

from edgekit.cli._table import fmt, format_rows

_KEYS = ("image_auroc", "image_f1", "pixel_auroc", "pixel_aupro")


@click.command("export")
@click.argument("run", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True, help="Bundle folder.")
@click.option("--precision", type=click.Choice(["int8", "fp16", "fp32"]), default="int8", show_default=True)
@click.option("--calib-size", type=int, default=64, show_default=True, help="INT8 calibration frames.")
@click.option(
    "--max-drop",
    type=float,
    help="Accept a drop of image AUROC and pixel AUPRO against FP32 up to this much "
    "[default budget: AUROC 0.01, AUPRO 0.02].",
)
@click.option("--data", type=click.Path(path_type=Path), help="Dataset folder [default: the run's].")
@click.option(
    "--ovms",
    type=click.Path(path_type=Path, file_okay=False),
    help="Also write an OpenVINO Model Server repository here (DIR/NAME/1/ + DIR/config.json).",
)
@click.option("--name", default="edgekit", show_default=True, help="The model's name in the OVMS repository.")
def command(
    run: Path,
    out: Path,
    precision: str,
    calib_size: int,
    max_drop: float | None,
    data: Path | None,
    ovms: Path | None,
    name: str,
) -> None:
    """Package a trained run as one standard OpenVINO anomaly model (whole frame in, anomalib's outputs out)."""
    from edgekit.export.bundle import export_bundle

    result = export_bundle(
        run, out, precision=precision, calib_size=calib_size, max_drop=max_drop, data=data, ovms=ovms, name=name
    )
    m = result.manifest
    acc = m.accuracy
    rows: list[tuple[object, ...]] = [("model", *_KEYS)]
    rows.append(("fp32", *(fmt(acc["fp32"][k]) for k in _KEYS)))
    if precision != "fp32":
        rows.append((precision, *(fmt(acc[precision][k]) for k in _KEYS)))
        rows.append(("delta", *(fmt(acc["delta"][k], 4) for k in _KEYS)))
    click.echo(f"accuracy on {acc['split']}:")
    click.echo(format_rows(rows))
    q = m.quantization
    if precision == "int8":
        click.echo(f"quantization: {q['method']}, {q['calibration_frames']} calibration frames")
    if precision != "fp32" and not acc.get("budget_checked", True):
        click.echo("note: the check frames hold no anomalies, so the accuracy budget could not be checked")
    click.echo(
        f"wrote {out}: {m.grid} {m.model}, {precision}, IR {m.sizes['ir_bytes'] / 2**20:.1f} MiB "
        f"(fp32 graph {m.sizes['fp32_graph_bytes'] / 2**20:.1f} MiB) in {result.timing['total_s']:.1f} s"
    )
    if result.ovms is not None:
        config = result.ovms / "config.json"
        click.echo(f"OVMS repository: {result.ovms} (ovms --config_path {config} --rest_port 8000)")
