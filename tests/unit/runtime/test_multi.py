"""Several sources through one compiled model: frames of all streams batched, each stream in its own order."""

from __future__ import annotations

import json
import threading
import time

import pytest

from edgekit.devices import PerformanceHint
from edgekit.errors import ConfigError
from edgekit.runtime import Engine, run, stream
from edgekit.runtime.api import named_sources
from edgekit.runtime.sources import Capture
from edgekit.runtime.stream import Stream


def _videos(kit, tmp_path, lengths):
    return [kit.write_video(tmp_path / f"v{i}.avi", kit.sequence(n)) for i, n in enumerate(lengths)]


def test_four_videos_every_frame_of_every_stream_once_in_order(bundle_dir, kit, tmp_path):
    lengths = [17, 9, 23, 4]  # one stream ends early: the others go on
    videos = _videos(kit, tmp_path, lengths)
    results = list(stream(bundle_dir, [f"cam{i}={v}" for i, v in enumerate(videos)], batch=4, jobs=2))
    for i, n in enumerate(lengths):
        mine = [r for r in results if r.stream == f"cam{i}"]
        assert [r.index for r in mine] == list(range(n))
        assert [r.label for r in mine] == [kit.is_anomalous(k) for k in range(n)]  # right frame, right result
    assert len(results) == sum(lengths)


def test_frames_of_several_streams_share_calls(bundle_dir, kit, tmp_path):
    videos = _videos(kit, tmp_path, [12, 12, 12, 12])
    engine = Engine(bundle_dir, hint=PerformanceHint.THROUGHPUT, batch=4)
    captures = [(str(i), Capture(str(v))) for i, v in enumerate(videos)]
    results = Stream(engine, captures, jobs=2, max_wait_ms=200)
    assert len(list(results)) == 48
    assert max(results.batch_sizes) > 1  # calls held frames of more than one stream
    assert sum(k * n for k, n in results.batch_sizes.items()) == 48


def test_a_stalled_live_stream_does_not_hold_the_batch(bundle_dir, kit, tmp_path):
    stall = threading.Event()
    camera = kit.CameraScript(kit.sequence(2), stall=stall)  # two frames, then stuck in read()
    video = _videos(kit, tmp_path, [30])[0]
    engine = Engine(bundle_dir, hint=PerformanceHint.THROUGHPUT, batch=2)
    captures = [
        ("stuck", Capture("0", opener=camera, max_reconnects=0)),
        ("busy", Capture(str(video))),
    ]
    results = Stream(engine, captures, jobs=2, max_wait_ms=30, stop_timeout_s=0.5)
    got = []
    start = time.monotonic()
    for result in results:
        got.append(result)
        if sum(r.stream == "busy" for r in got) == 30:
            results.stop_event.set()
    elapsed = time.monotonic() - start
    stall.set()
    busy = [r.index for r in got if r.stream == "busy"]
    assert busy == list(range(30))
    # 30 frames, at most one wait bound per call: a batch held for the stalled camera would never end
    assert elapsed < 30 * 0.03 + 5.0


def test_run_writes_stream_and_index_and_a_report_per_stream(bundle_dir, kit, tmp_path):
    videos = _videos(kit, tmp_path, [6, 10])
    out = tmp_path / "out"
    report = run(bundle_dir, [f"left={videos[0]}", f"right={videos[1]}"], out=out, overlays=True, warmup=0)
    lines = kit.read_lines(out / "results.jsonl")
    keys = ("boxes", "index", "label", "ms", "score", "stream", "timestamp")
    assert {tuple(sorted(line)) for line in lines} == {keys}
    for name, n in (("left", 6), ("right", 10)):
        assert [line["index"] for line in lines if line["stream"] == name] == list(range(n))
    saved = json.loads((out / "report.json").read_text())
    assert saved["frames"] == 16 and [s["name"] for s in saved["streams"]] == ["left", "right"]
    left, right = saved["streams"]
    assert (left["frames"], right["frames"]) == (6, 10) and left["source"] == str(videos[0])
    assert left["anomalous"] == sum(kit.is_anomalous(i) for i in range(6))
    assert set(left) >= {"fps", "e2e_ms", "dropped", "skipped", "frame_errors", "reconnects", "source_lost"}
    assert saved["batch"] == 1 and saved["batch_sizes"] == {"1": 16}  # batch auto on CPU: one frame per call
    assert sorted(p.name for p in (out / "overlays").iterdir()) == ["left", "right"]  # overlays per stream
    assert report.streams == saved["streams"]


def test_a_rerun_into_the_same_folder_starts_clean(bundle_dir, kit, tmp_path):
    out = tmp_path / "out"
    first = _videos(kit, tmp_path, [9])[0]
    run(bundle_dir, str(first), out=out, overlays=True)
    assert any((out / "overlays").iterdir())
    blank = kit.write_video(tmp_path / "gray.avi", [kit.gray_frame()] * 3)
    run(bundle_dir, str(blank), out=out)  # no overlays asked for, nothing anomalous
    assert not (out / "overlays").exists()
    assert len(kit.read_lines(out / "results.jsonl")) == 3
    assert json.loads((out / "report.json").read_text())["frames"] == 3


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("video.avi", [("0", "video.avi")]),
        (["a=x.avi", "y.avi"], [("a", "x.avi"), ("1", "y.avi")]),
        (["rtsp://h/s?user=a&k=1"], [("0", "rtsp://h/s?user=a&k=1")]),  # '=' inside a URL is not a name
        ([("cam", "0")], [("cam", "0")]),
    ],
)
def test_sources_are_named_by_position_unless_named(given, expected):
    assert named_sources(given) == expected


@pytest.mark.parametrize(
    ("given", "message"),
    [([], "no source given"), (["a=x", "a=y"], "given twice"), ([("b/c", "x")], "is not accepted")],
)
def test_bad_source_names_are_one_line(given, message):
    with pytest.raises(ConfigError, match=message) as info:
        named_sources(given)
    assert "\n" not in str(info.value)
