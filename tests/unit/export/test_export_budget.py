"""The INT8 accuracy budget is enforced: a deployed model that loses too much is refused, naming the drop.

A stand-in quantizer returns a model that sees nothing (a constant map): whatever NNCF would do,
the deployed model then drops image AUROC to 0.5, so both the plain and the accuracy-controlled
attempt miss the default budget. The export must fail in one line, exit 1 through the CLI, write
no bundle, and go through when ``--max-drop`` allows the drop.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgekit.export.bundle import AccuracyBudgetError, export_bundle


def _blind(model: Any, *_args: Any, **_kwargs: Any) -> Any:
    """The model with its raw map and score replaced by zeros: no detection at all."""
    import openvino as ov
    from openvino import opset13 as ops

    (param,) = model.get_parameters()
    flat = ops.multiply(ops.reduce_mean(param, np.array([1]), True), np.float32(0.0))  # [1, 1, H, W]
    score = ops.reduce_max(flat, np.array([1, 2, 3]), False)
    results = []
    for node, name in ((flat, "raw_map"), (score, "raw_score")):
        result = ops.result(node)
        result.output(0).get_tensor().set_names({name})
        results.append(result)
    return ov.Model(results, [param], "blind")


@pytest.fixture
def blind_quantizer(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def quantize(model: Any, calibration: list[Any], **kwargs: Any) -> Any:
        calls.append(kwargs)
        return _blind(model)

    monkeypatch.setattr("edgekit.export.bundle.quantize", quantize)
    return calls


def test_a_model_over_the_budget_is_refused_naming_the_drop(tiny_run: Path, tmp_path: Path, blind_quantizer) -> None:
    out = tmp_path / "bundle"
    with pytest.raises(AccuracyBudgetError) as info:
        export_bundle(tiny_run, out, precision="int8")
    message = str(info.value)
    assert "\n" not in message
    assert "image_auroc -0." in message and "(allowed 0.01)" in message
    assert "--max-drop" in message and "--precision fp16 or fp32" in message
    assert not out.exists()
    # plain PTQ first, then NNCF accuracy control with the budget as its max_drop
    assert len(blind_quantizer) == 2 and "max_drop" not in blind_quantizer[0]
    assert blind_quantizer[1]["max_drop"] == 0.02 and callable(blind_quantizer[1]["validate"])


def test_the_cli_exits_1_with_one_line(tiny_run: Path, tmp_path: Path, blind_quantizer) -> None:
    from click.testing import CliRunner

    from edgekit.cli.main import cli

    result = CliRunner().invoke(cli, ["export", str(tiny_run), "--out", str(tmp_path / "b")])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "misses the accuracy budget" in lines[0]


def test_max_drop_allows_the_drop_and_the_manifest_says_so(tiny_run: Path, tmp_path: Path, blind_quantizer) -> None:
    result = export_bundle(tiny_run, tmp_path / "bundle", precision="int8", max_drop=0.9)
    acc = result.manifest.accuracy
    assert acc["budget"] == {"image_auroc": 0.9, "pixel_aupro": 0.9}
    assert acc["int8"]["image_auroc"] == 0.5  # the blind model: every score tied
    assert acc["delta"]["image_auroc"] == pytest.approx(0.5 - acc["fp32"]["image_auroc"])  # recorded, not hidden
    assert acc["delta"]["image_auroc"] < -0.2
    assert len(blind_quantizer) == 1  # within the widened budget: no accuracy control needed
