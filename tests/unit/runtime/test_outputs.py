"""results.jsonl, report.json and overlays written by ``run``."""

from __future__ import annotations

import json
import threading

import cv2
import pytest

from edgekit.runtime import run
from edgekit.runtime.result import STAGES
from edgekit.runtime.sinks import JsonlSink


@pytest.fixture(scope="module")
def folder(kit, tmp_path_factory):
    return kit.write_folder(tmp_path_factory.mktemp("frames") / "frames", kit.sequence(9))


def test_each_line_is_on_disk_when_its_frame_completes(bundle_dir, folder, kit, tmp_path):
    path = tmp_path / "out" / "results.jsonl"
    seen = []

    def on_result(result, frames, _fps):
        lines = kit.read_lines(path)  # read back from the file while the run goes on
        seen.append(len(lines))
        assert lines[-1]["index"] == result.index

    report = run(bundle_dir, str(folder), out=tmp_path / "out", jobs=3, on_result=on_result)
    assert seen == list(range(1, 10)) and report.frames == 9


def test_lines_and_report_agree(bundle_dir, folder, kit, tmp_path):
    report = run(bundle_dir, str(folder), out=tmp_path / "out", warmup=2)
    lines = kit.read_lines(tmp_path / "out" / "results.jsonl")
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert saved == json.loads(json.dumps(report.to_dict()))
    assert saved["frames"] == len(lines) == 9
    assert saved["anomalous"] == sum(line["label"] == "anomalous" for line in lines) == 3
    assert [line["index"] for line in lines] == list(range(9))
    assert [line["label"] == "anomalous" for line in lines] == [kit.is_anomalous(i) for i in range(9)]
    assert saved["stopped_by"] == "end" and saved["device"] == "CPU" and saved["precision"] == "fp32"
    assert saved["warmup_frames"] == 2 and saved["fps"] > 0 and saved["peak_rss_mb"] > 0
    assert set(saved["latency_ms"]) == set(STAGES)
    assert all(stats["count"] == 9 - 2 for stats in saved["latency_ms"].values())
    for line in lines:
        assert set(line) == {"stream", "index", "timestamp", "score", "label", "boxes", "ms"}
        assert (line["boxes"] != []) == (line["label"] == "anomalous")
    y0, x0, size = kit.SQUARE
    assert lines[1]["boxes"] == [
        {"xyxy": [x0, y0, x0 + size, y0 + size], "area": size * size, "score": lines[1]["boxes"][0]["score"]}
    ]


def test_a_stop_event_ends_the_run_cleanly(bundle_dir, folder, kit, tmp_path):
    stop = threading.Event()

    def on_result(_result, frames, _fps):
        if frames == 2:
            stop.set()

    report = run(bundle_dir, str(folder), out=tmp_path / "out", jobs=2, stop_event=stop, on_result=on_result)
    lines = kit.read_lines(tmp_path / "out" / "results.jsonl")
    assert report.stopped_by == "signal" and 2 <= report.frames < 9
    assert [line["index"] for line in lines] == list(range(report.frames))  # frames in flight finished


def test_overlays_are_written_for_anomalous_frames_only(bundle_dir, folder, tmp_path):
    run(bundle_dir, str(folder), out=tmp_path / "out", overlays=True)
    written = sorted(p.name for p in (tmp_path / "out" / "overlays").iterdir())
    assert written == ["frame_000001.png", "frame_000004.png", "frame_000007.png"]
    image = cv2.imread(str(tmp_path / "out" / "overlays" / written[0]))
    assert image.shape == (64, 64, 3)


def test_the_jsonl_sink_truncates_and_appends_whole_lines(bundle_dir, kit, tmp_path):
    from edgekit.runtime import load

    path = tmp_path / "results.jsonl"
    path.write_text("left over from an earlier run\n")
    sink = JsonlSink(path)
    engine = load(bundle_dir)
    for i in range(3):
        sink.write(engine.predict(kit.square_frame(), index=i))
    sink.close()
    sink.close()  # closing twice is harmless
    lines = kit.read_lines(path)
    assert [line["index"] for line in lines] == [0, 1, 2] and sink.lines == 3


def test_a_nan_result_is_a_counted_frame_error_and_the_stream_goes_on(tmp_path, kit):
    bundle = kit.write_bundle(tmp_path / "nan", nan=True)
    frames = [kit.gray_frame(), kit.gray_frame(255), kit.square_frame(), kit.gray_frame(255), kit.gray_frame()]
    folder = kit.write_folder(tmp_path / "frames", frames)
    report = run(bundle, str(folder), out=tmp_path / "out", warmup=0)
    text = (tmp_path / "out" / "results.jsonl").read_text()
    lines = kit.read_lines(tmp_path / "out" / "results.jsonl")
    assert [line["index"] for line in lines] == [0, 2, 4]  # the white frames failed, the others went on
    assert [line["label"] for line in lines] == ["normal", "anomalous", "normal"]
    assert "NaN" not in text and "nan" not in text.lower()
    assert report.frame_errors == 2 and len(report.error_items) == 2
    assert all("non-finite" in item for item in report.error_items)
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert saved["frame_errors"] == 2 and saved["frames"] == 3
