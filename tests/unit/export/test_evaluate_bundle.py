"""``edgekit evaluate BUNDLE``: the deployed model scored on the test split from its own graph."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from edgekit.artifacts.ir import ANOMALY_MAP, PRED_SCORE, RAW_MAP, RAW_SCORE, specialize
from edgekit.artifacts.manifest import EnsembleManifest


def _edgekit(*args: object) -> Result:
    from edgekit.cli.main import cli

    return CliRunner().invoke(cli, [str(a) for a in args])


def _frames(data: Path, bundle: Path) -> np.ndarray:
    from edgekit.data import load_split, scan_dataset

    grid = EnsembleManifest.load(bundle).grid
    return load_split(scan_dataset(data).test[:4], grid.image_hw, min_hw=grid.tile_hw).images


def test_raw_outputs_undo_the_normalization(fp32_bundle: Path, tiny_data: Path) -> None:
    """The recovered raw values, normalized by the manifest's rule, give the bundle's own outputs."""
    import openvino as ov

    from edgekit.export.post import raw_outputs

    manifest = EnsembleManifest.load(fp32_bundle)
    model = ov.Core().read_model(fp32_bundle / manifest.xml)
    raw = raw_outputs(model)
    assert sorted(n for out in raw.outputs for n in out.get_names()) == [RAW_MAP, RAW_SCORE]
    frames = _frames(tiny_data, fp32_bundle)
    config = {"INFERENCE_PRECISION_HINT": "f32"}
    full = ov.Core().compile_model(specialize(model.clone()), "CPU", config).create_infer_request()
    bare = ov.Core().compile_model(specialize(raw), "CPU", config).create_infer_request()
    t = manifest.thresholds
    for frame in frames:
        want, got = full.infer({0: frame[None]}), bare.infer({0: frame[None]})
        for normalized, name, thr, lo, hi in (
            (ANOMALY_MAP, RAW_MAP, t.pixel_threshold, t.pixel_min, t.pixel_max),
            (PRED_SCORE, RAW_SCORE, t.image_threshold, t.image_min, t.image_max),
        ):
            expected = np.clip((got[name] - thr) / (hi - lo) + 0.5, 0.0, 1.0)
            np.testing.assert_allclose(want[normalized], expected, atol=1e-5)
        assert np.ptp(got[RAW_MAP]) > 0  # raw values, not a constant


def test_raw_outputs_refuse_a_graph_without_edgekit_outputs() -> None:
    import openvino as ov
    from openvino import opset13 as ops

    from edgekit.export.post import raw_outputs

    x = ops.parameter([1, 3, 8, 8], ov.Type.f32, name="input")
    result = ops.result(ops.relu(x))
    result.output(0).get_tensor().set_names({"features"})
    from edgekit.errors import ArtifactError

    with pytest.raises(ArtifactError, match="not an edgekit bundle graph: outputs \\['features'\\]"):
        raw_outputs(ov.Model([result], [x], "other"))


def test_the_fp32_bundle_scores_the_test_split_as_the_run_does(
    tiny_run: Path, fp32_bundle: Path, tiny_data: Path, tmp_path: Path
) -> None:
    """Same frames, same metrics code: FP32 OpenVINO against the torch ensemble, to float32 noise."""
    from edgekit.train.evaluate import evaluate_run

    want = evaluate_run(tiny_run, tiny_data, progress=False).systems["ensemble"]
    out = tmp_path / "bundle.json"
    result = _edgekit("evaluate", fp32_bundle, "--data", tiny_data, "--json", out, "--no-progress")
    assert result.exit_code == 0, result.output
    assert "bundle (fp32)" in result.output
    got = json.loads(out.read_text())
    assert got["systems"].keys() == {"bundle (fp32)"}
    for key in ("image_auroc", "pixel_auroc", "pixel_aupro", "image_f1_max"):
        assert got[key] == pytest.approx(want[key], abs=2e-3), key
    assert got["n_test"] > 0 and got["details"]["bundle (fp32)"]["grid"] == str(EnsembleManifest.load(fp32_bundle).grid)


def test_the_int8_bundle_is_scored_at_its_own_thresholds(int8_export: tuple, tiny_data: Path) -> None:
    from edgekit.export.evaluate import evaluate_bundle

    bundle, _ = int8_export
    report = evaluate_bundle(bundle, tiny_data)
    assert report.main == "bundle (int8)"
    metrics = report.systems["bundle (int8)"]
    assert 0.5 < metrics["pixel_aupro"] <= 1.0 and 0.5 < metrics["image_auroc"] <= 1.0
    detail = report.details["bundle (int8)"]
    split = EnsembleManifest.load(bundle).accuracy["thresholds_split"]
    assert detail["thresholds_from"] == f"the exported model's {split}"


@pytest.mark.parametrize("flag", [["--baselines"], ["--figures", "figs"]])
def test_run_only_options_are_refused_for_a_bundle_in_one_line(fp32_bundle: Path, tiny_data: Path, flag: list) -> None:
    result = _edgekit("evaluate", fp32_bundle, "--data", tiny_data, *flag)
    assert result.exit_code == 2
    assert f"{flag[0]} needs a run folder" in result.output
    assert "Traceback" not in result.output
