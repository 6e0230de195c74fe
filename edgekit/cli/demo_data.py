"""``edgekit demo-data OUT``: write the real-photo demo dataset (MVTec layout + demo videos)."""

from __future__ import annotations

import json
from pathlib import Path

import click

_CATEGORIES = ("gravel", "brick", "coffee")  # mirrors edgekit.demo.DemoCategory (kept light to import)


@click.command("demo-data")
@click.argument("out", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--size", default=512, show_default=True, type=int, help="Side of the square frames (even, >= 64)."
)
@click.option(
    "--seed", default=0, show_default=True, type=int, help="Seed; the same seed writes identical images."
)
@click.option(
    "--category",
    "categories",
    multiple=True,
    type=click.Choice(_CATEGORIES),
    help="Category to write (repeatable); all of them by default.",
)
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON instead of a table.")
def command(
    out: Path, size: int, seed: int, categories: tuple[str, ...], no_progress: bool, as_json: bool
) -> None:
    """Write a demo dataset built from photographs that ship with scikit-image.

    OUT gets <category>/train/good, test/<kind>, ground_truth/<kind> (MVTec layout), a demo video
    <category>/stream.avi with its stream.json, and demo.json. Needs: pip install 'edgekit[demo]'.
    """
    from edgekit.demo import generate_demo_data

    summary = generate_demo_data(
        out, size=size, seed=seed, categories=categories or None, progress=not no_progress
    )
    if as_json:
        click.echo(
            json.dumps({**summary.to_json(), "root": str(summary.root), "elapsed_s": summary.elapsed_s})
        )
        return
    rows = [("category", "scene", "train", "test good", "test defect", "video")]
    for c in summary.categories:
        video = f"{c.stream.video} ({c.stream.frame_count} frames, {len(c.stream.defective)} defective)"
        rows.append((c.name, c.scene, str(c.train_good), str(c.test_good), str(c.test_defective), video))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        click.echo(
            "  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1]
        )
    kinds = ", ".join(str(kind) for kind, _ in summary.categories[0].defects)
    click.echo(
        f"wrote {summary.root} ({summary.size}x{summary.size}, seed {summary.seed}, defects: {kinds}) "
        f"in {summary.elapsed_s:.1f} s"
    )
