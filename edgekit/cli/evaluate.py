"""``edgekit evaluate RUN|BUNDLE``: image AUROC/F1 and pixel AUROC/AUPRO, optionally against single-model baselines."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgekit.cli._table import fmt, format_rows


@click.command("evaluate")
@click.argument("target", metavar="RUN|BUNDLE", type=click.Path(path_type=Path))
@click.option("--data", type=click.Path(path_type=Path), required=True, help="Dataset folder ROOT/CATEGORY.")
@click.option("--json", "json_path", type=click.Path(path_type=Path, dir_okay=False), help="Write metrics JSON.")
@click.option("--figures", type=click.Path(path_type=Path, file_okay=False), help="Write PNG panels here (a run).")
@click.option("--baselines", is_flag=True, help="Also train and evaluate single models at tile and full size (a run).")
@click.option("--no-progress", is_flag=True, help="Hide progress bars.")
def command(
    target: Path, data: Path, json_path: Path | None, figures: Path | None, baselines: bool, no_progress: bool
) -> None:
    """Evaluate a trained run, or an exported bundle as deployed (INT8, its thresholds), on the test split of DATA."""
    from edgekit.artifacts.files import write_json
    from edgekit.artifacts.manifest import MANIFEST_NAME
    from edgekit.artifacts.record import RECORD_NAME
    from edgekit.errors import ArtifactError
    from edgekit.evaluation import METRIC_KEYS

    if not target.is_dir():
        what = "is not a folder" if target.exists() else "does not exist"
        msg = f"{target} {what}: expected a run (edgekit train --out) or a bundle (edgekit export --out)"
        raise ArtifactError(msg)
    is_bundle = (target / MANIFEST_NAME).is_file()
    if not is_bundle and not (target / RECORD_NAME).is_file():
        msg = (
            f"{target} is neither a run nor a bundle: it holds no {RECORD_NAME} (written by edgekit train) "
            f"and no {MANIFEST_NAME} (written by edgekit export)"
        )
        raise ArtifactError(msg)

    if is_bundle:
        for flag, given in (("--baselines", baselines), ("--figures", figures is not None)):
            if given:
                msg = f"{flag} needs a run folder (it uses the trained models); {target} is an exported bundle"
                raise click.UsageError(msg)
        from edgekit.export.evaluate import evaluate_bundle

        report = evaluate_bundle(target, data)
    else:
        from edgekit.train.evaluate import evaluate_run

        report = evaluate_run(target, data, baselines=baselines, figures=figures, progress=not no_progress)
    rows: list[tuple[object, ...]] = [("system", "grid", *METRIC_KEYS)]
    order = [name for name in report.systems if name != report.main] + [report.main]
    for name in order:
        metrics = report.systems[name]
        rows.append((name, report.details[name]["grid"], *(fmt(metrics[k]) for k in METRIC_KEYS)))
    click.echo(f"{report.n_test} test images ({report.n_anomalous} defective) from {data}")
    click.echo(format_rows(rows))
    for name in order:
        detail = report.details[name]
        click.echo(f"{name}: thresholds ({detail['thresholds']}) fitted on {detail['thresholds_from']}")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        write_json(json_path, json.loads(json.dumps(report.to_dict(), default=float)))
        click.echo(f"metrics written to {json_path}")
    if figures is not None:
        click.echo(f"figures written to {figures}")
