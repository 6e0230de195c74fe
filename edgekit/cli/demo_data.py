"""``edgekit demo-data OUT``: write the real-photo demo dataset, or the wide benchmark set (``--set wide``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

# Mirror edgekit.demo.DemoCategory and edgekit.demo.wide.WideCategory (kept light to import).
_CATEGORIES = ("gravel", "brick", "coffee")
_WIDE_CATEGORIES = ("grass", "tissue", "stars", "cat", "astronaut", "logo", "retina", "rocket", "coins", "tray")


@click.command("demo-data")
@click.argument("out", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--set",
    "data_set",
    type=click.Choice(["demo", "wide"]),
    default="demo",
    show_default=True,
    help="demo: three categories with demo videos; wide: the ten-category benchmark set with a validation split.",
)
@click.option(
    "--size",
    default=512,
    show_default=True,
    type=int,
    help="Side of the square frames (demo: even, >= 64; wide: >= 128).",
)
@click.option(
    "--seed", default=0, show_default=True, type=int, help="Seed; the same seed writes identical images."
)
@click.option(
    "--category",
    "categories",
    multiple=True,
    help=f"Category to write (repeatable); all of the set's by default. demo: {', '.join(_CATEGORIES)}; "
    f"wide: {', '.join(_WIDE_CATEGORIES)}.",
)
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON instead of a table.")
def command(
    out: Path, data_set: str, size: int, seed: int, categories: tuple[str, ...], no_progress: bool, as_json: bool
) -> None:
    """Write a data set built from photographs that ship with scikit-image.

    OUT gets <category>/train/good, test/<kind>, ground_truth/<kind> (MVTec layout). The demo set
    adds a demo video <category>/stream.avi with its stream.json, and demo.json; the wide set adds a
    held-out validation split validation/<category> (test/<good|kind>, ground_truth/<kind>), a
    defects.json per category (kind and area of every defect), and wide.json.
    Needs: pip install 'edgekit[demo]'.
    """
    if data_set == "wide":
        _wide(out, size, seed, categories, not no_progress, as_json)
        return
    from edgekit.demo import generate_demo_data

    summary = generate_demo_data(
        out, size=size, seed=seed, categories=categories or None, progress=not no_progress
    )
    if as_json:
        _echo_json(summary.to_json(), summary.root, summary.elapsed_s)
        return
    rows = [("category", "scene", "train", "test good", "test defect", "video")]
    for c in summary.categories:
        video = f"{c.stream.video} ({c.stream.frame_count} frames, {len(c.stream.defective)} defective)"
        rows.append((c.name, c.scene, str(c.train_good), str(c.test_good), str(c.test_defective), video))
    _echo_rows(rows)
    kinds = ", ".join(str(kind) for kind, _ in summary.categories[0].defects)
    click.echo(
        f"wrote {summary.root} ({summary.size}x{summary.size}, seed {summary.seed}, defects: {kinds}) "
        f"in {summary.elapsed_s:.1f} s"
    )


def _wide(out: Path, size: int, seed: int, categories: tuple[str, ...], progress: bool, as_json: bool) -> None:
    from edgekit.demo.wide import generate_wide_data

    summary = generate_wide_data(out, size=size, seed=seed, categories=categories or None, progress=progress)
    if as_json:
        _echo_json(summary.to_json(), summary.root, summary.elapsed_s)
        return
    rows = [("category", "scene", "defect size", "train", "val good/defect", "test good/defect", "area % min-max")]
    for c in summary.categories:
        areas = [d.area_fraction * 100 for d in c.defects]
        rows.append(
            (
                c.name,
                c.scene,
                c.size_class,
                str(c.counts.train_good),
                f"{c.counts.validation_good}/{c.validation_defective}",
                f"{c.counts.test_good}/{c.test_defective}",
                f"{min(areas):.3f}-{max(areas):.3f}",
            )
        )
    _echo_rows(rows)
    size, seed = summary.size, summary.seed
    click.echo(f"wrote {summary.root} ({size}x{size}, seed {seed}) in {summary.elapsed_s:.1f} s")


def _echo_json(content: dict[str, Any], root: Path, elapsed_s: float) -> None:
    click.echo(json.dumps({**content, "root": str(root), "elapsed_s": elapsed_s}))


def _echo_rows(rows: list[tuple[str, ...]]) -> None:
    """Print left-aligned columns; the last column is not padded."""
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        click.echo("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + str(row[-1]))
