"""``edgekit export RUN --out BUNDLE``: NNCF INT8 (or FP16/FP32) OpenVINO bundle with a manifest."""

from __future__ import annotations

from pathlib import Path

import click

from edgekit.cli._table import fmt, format_rows

_KEYS = ("image_auroc", "image_f1", "pixel_auroc", "pixel_aupro")


@click.command("export")
@click.argument("run", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True, help="Bundle folder.")
@click.option("--precision", type=click.Choice(["int8", "fp16", "fp32"]), default="int8", show_default=True)
@click.option("--calib-size", type=int, default=64, show_default=True, help="Calibration frames (x N tiles).")
@click.option("--max-drop", type=float, help="INT8 with accuracy control: allowed absolute metric drop.")
@click.option("--data", type=click.Path(path_type=Path), help="Dataset folder [default: the run's].")
def command(run: Path, out: Path, precision: str, calib_size: int, max_drop: float | None, data: Path | None) -> None:
    """Quantize and package a trained run as an OpenVINO bundle."""
    from edgekit.export.bundle import export_bundle

    result = export_bundle(run, out, precision=precision, calib_size=calib_size, max_drop=max_drop, data=data)
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
        click.echo(f"calibration: {q['calibration_frames']} frames x {m.grid.n_tiles} tiles ({q['method']})")
    click.echo(
        f"wrote {out}: {m.grid} {m.model}, {precision}, IR {m.sizes['ir_bytes'] / 2**20:.1f} MiB "
        f"(fp32 graph {m.sizes['fp32_graph_bytes'] / 2**20:.1f} MiB) in {result.timing['total_s']:.1f} s"
    )
