"""``edgekit evaluate``: the table, --json, --figures and --baselines on the session's PaDiM run."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import cv2
import pytest
from click.testing import Result

pytest.importorskip("anomalib")

from edgekit.evaluation import METRIC_KEYS


def test_json_and_figures(
    padim_run: Path, known_data: Path, tmp_path: Path, edgekit: Callable[[list[object]], Result]
) -> None:
    metrics_path, figures = tmp_path / "out" / "metrics.json", tmp_path / "figures"
    result = edgekit(
        ["evaluate", padim_run, "--data", known_data, "--json", metrics_path, "--figures", figures, "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert "10 test images (6 defective)" in result.output
    header = next(line for line in result.output.splitlines() if line.startswith("system"))
    assert header.split() == ["system", "grid", *METRIC_KEYS]
    assert any(line.startswith("ensemble") for line in result.output.splitlines())

    metrics = json.loads(metrics_path.read_text())
    assert set(METRIC_KEYS) <= set(metrics)
    assert all(math.isfinite(metrics[key]) for key in METRIC_KEYS)
    assert metrics["image_auroc"] == 1.0
    assert metrics["systems"]["ensemble"]["pixel_aupro"] == metrics["pixel_aupro"]

    pngs = sorted(figures.glob("*.png"))
    assert {p.name.split("_")[0] for p in pngs} == {"best", "worst"}
    assert len(pngs) == 6
    for png in pngs:
        image = cv2.imread(str(png))
        assert image is not None and image.shape[0] > 50 and image.shape[1] > 200


@pytest.mark.slow
def test_baselines_add_single_model_rows(
    padim_run: Path, known_data: Path, tmp_path: Path, edgekit: Callable[[list[object]], Result]
) -> None:
    metrics_path = tmp_path / "metrics.json"
    result = edgekit(["evaluate", padim_run, "--data", known_data, "--baselines", "--json", metrics_path,
                      "--no-progress"])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    assert {"single@64", "single@128", "ensemble"} <= set(rows)
    assert "1x1 tiles of 64x64" in rows["single@64"]
    assert "1x1 tiles of 128x128" in rows["single@128"]
    assert "2x2 tiles of 64x64" in rows["ensemble"]
    systems = json.loads(metrics_path.read_text())["systems"]
    assert set(systems) == {"ensemble", "single@64", "single@128"}
    for metrics in systems.values():
        assert set(METRIC_KEYS) <= set(metrics)
