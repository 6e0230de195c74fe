"""The whole product on tiny demo data through the CLI: demo-data -> train -> export INT8 -> run the video."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgekit.cli.main import cli

pytestmark = pytest.mark.slow


def _ok(args: list[str]) -> str:
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_demo_data_train_export_run(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _ok(["demo-data", str(data), "--size", "128", "--category", "coffee", "--no-progress"])
    run = tmp_path / "run"
    _ok(
        [
            "train",
            "--data",
            str(data / "coffee"),
            "--out",
            str(run),
            "--image-size",
            "128",
            "--tile-size",
            "64",
            "--stride",
            "32",
            "--n-features",
            "20",
            "--no-progress",
        ]
    )
    bundle = tmp_path / "bundle"
    out = _ok(["export", str(run), "--out", str(bundle), "--calib-size", "24"])
    assert "int8" in out and "delta" in out
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["precision"] == "int8"
    assert abs(manifest["accuracy"]["delta"]["image_auroc"]) <= 0.1

    sidecar = json.loads((data / "coffee" / "stream.json").read_text())
    video = data / "coffee" / sidecar["video"]
    stream_out = tmp_path / "stream"
    printed = _ok(["run", str(bundle), "--source", str(video), "--out", str(stream_out), "--json"])
    report = json.loads(printed[printed.index("{") :])
    lines = [json.loads(line) for line in (stream_out / "results.jsonl").read_text().splitlines()]

    # one line per frame, in order, consistent with the report
    assert [row["index"] for row in lines] == list(range(sidecar["frame_count"]))
    assert report["frames"] == len(lines) == sidecar["frame_count"]
    assert report["anomalous"] == sum(row["label"] == "anomalous" for row in lines)
    assert report["stopped_by"] == "end" and report["dropped"] == 0 and report["skipped"] == 0
    for stage in ("prep", "infer", "post", "e2e"):
        assert report["latency_ms"][stage]["p50"] > 0

    # the defective frames are flagged: at 128 px on this tiny model, most of them, with few false alarms
    truth = {d["index"] if isinstance(d, dict) else int(d) for d in sidecar["defective_frames"]}
    flagged = {row["index"] for row in lines if row["label"] == "anomalous"}
    recall = len(truth & flagged) / len(truth)
    false_alarms = len(flagged - truth) / (len(lines) - len(truth))
    assert recall >= 0.5, (sorted(truth), sorted(flagged))
    assert false_alarms <= 0.2, (sorted(truth), sorted(flagged))
