"""Thresholds fitted on a data set's held-out validation folder (the default where one exists), end to end.

The wide benchmark set writes ``OUT/validation/CATEGORY`` beside ``OUT/CATEGORY``: ``edgekit train``
fits F1-adaptive thresholds there by default (never on the test images), ``edgekit evaluate`` says
so, and ``edgekit export`` checks FP32 against the deployed precision on those same frames.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgekit.train.fit import WEAK_SEPARATION_AUROC

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory, edgekit) -> Path:
    out = tmp_path_factory.mktemp("wide") / "set"
    result = edgekit(["demo-data", out, "--set", "wide", "--category", "coins", "--size", "128"])
    assert result.exit_code == 0, result.output
    return out


def test_train_evaluate_and_export_use_the_held_out_validation_folder(wide: Path, edgekit, tmp_path: Path) -> None:
    data, run = wide / "coins", tmp_path / "run"
    result = edgekit(
        ["train", "--data", data, "--out", run, "--image-size", "128", "--tile-size", "64", "--stride", "64",
         "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    record = json.loads((run / "training.json").read_text())
    held = sorted((wide / "validation" / "coins" / "test").glob("*/*.png"))
    assert record["data"]["val_split"] == "validation" and record["data"]["val_split_asked"] == "auto"
    assert sorted(Path(p).name for p in record["data"]["val_files"]) == sorted(p.name for p in held)
    assert record["thresholds"]["method"] == "f1_adaptive"  # the validation folder holds defects
    val_auroc = record["data"]["val_image_auroc"]  # defective and good frames both there: the figure is measured
    assert 0.0 <= val_auroc <= 1.0 and f"validation: image AUROC {val_auroc:.3f} (" in result.output
    # 0.646 here (128 px coins, 64 px tiles): the summary line marks a figure weak exactly when it is under the line
    assert ("weak separation" in result.output) == (val_auroc < WEAK_SEPARATION_AUROC)
    test_files = {p.resolve() for p in (data / "test").glob("*/*.png")}
    assert not test_files & {Path(p).resolve() for p in record["data"]["val_files"]}

    result = edgekit(["evaluate", run, "--data", data, "--no-progress"])
    assert result.exit_code == 0, result.output
    assert f"fitted on {len(held)} held-out validation images" in result.output

    result = edgekit(["export", run, "--out", tmp_path / "bundle", "--precision", "fp32"])
    assert result.exit_code == 0, result.output
    assert f"accuracy on validation ({len(held)} held-out images" in result.output
