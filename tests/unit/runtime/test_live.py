"""Live sources: reconnect with bounded backoff, a lost source ends the stream cleanly, overflow drops the oldest."""

from __future__ import annotations

import functools
import threading

import pytest

import edgekit.runtime.api as api
from edgekit.devices import PerformanceHint
from edgekit.errors import DataError
from edgekit.runtime import Engine
from edgekit.runtime.sources import Capture, SourceKind
from edgekit.runtime.stream import Stream


@pytest.fixture(scope="module")
def engine(bundle_dir):
    return Engine(bundle_dir, hint=PerformanceHint.THROUGHPUT)


def test_a_camera_that_stops_is_reopened_and_the_frames_go_on(engine, kit):
    frames = kit.sequence(7)
    script = kit.CameraScript(frames[:3], None, frames[3:])  # unplugged after 3, one failed reopen, back
    capture = Capture("0", max_frames=7, max_reconnects=3, backoff_s=0.01, opener=script)
    assert capture.kind is SourceKind.CAMERA
    results = list(Stream(engine, capture, jobs=2))
    assert [r.index for r in results] == list(range(7))
    assert [r.label for r in results] == [kit.is_anomalous(i) for i in range(7)]
    assert capture.stats.reconnects == 2 and not capture.stats.lost
    assert script.opens == [0, 0, 0]  # the first open and two reopen attempts, all of camera 0


def test_a_camera_that_never_comes_back_is_given_up_after_bounded_attempts(bundle_dir, kit, monkeypatch, tmp_path):
    script = kit.CameraScript(kit.sequence(4))
    monkeypatch.setattr(api, "Capture", functools.partial(Capture, opener=script, backoff_s=0.01))
    report = api.run(bundle_dir, "0", out=tmp_path / "out", reconnect=3)
    assert (report.frames, report.reconnects, report.source_lost) == (4, 3, True)
    assert report.stopped_by == "source_lost"
    assert len(script.opens) == 1 + 3
    assert [line["index"] for line in kit.read_lines(tmp_path / "out" / "results.jsonl")] == [0, 1, 2, 3]


def test_a_camera_that_cannot_be_opened_is_a_one_line_error(kit):
    with pytest.raises(DataError, match="cannot open source '0'") as info:
        Capture("0", opener=kit.CameraScript(None))
    assert "\n" not in str(info.value)


def test_a_full_live_queue_drops_the_oldest_frames_and_counts_them(kit):
    capture = Capture("0", queue_size=2, max_reconnects=0, opener=kit.CameraScript(kit.sequence(30)))
    capture.start()
    capture.join(timeout=10)  # nobody consumes while the camera delivers all 30 frames
    items = []
    while (item := capture.queue.get(timeout=1)) is not None:
        items.append(item)
    assert capture.stats.read == 30 and capture.stats.lost
    assert capture.stats.dropped == 30 - len(items) > 0
    assert [f.index for f in items] == [29]  # the newest frame survived, the oldest went


def test_a_slow_consumer_of_a_live_stream_loses_old_frames_not_new_ones(engine, kit):
    capture = Capture("0", queue_size=2, max_reconnects=0, opener=kit.CameraScript(kit.sequence(50)))
    results = []
    for result in Stream(engine, capture, jobs=2):
        if not results:
            capture.join(timeout=10)  # a consumer stuck on its first result while the camera runs on
        results.append(result)
    stats = capture.stats
    assert stats.read == 50 and stats.dropped > 0
    assert len(results) + stats.dropped == stats.read
    indices = [r.index for r in results]
    assert indices == sorted(indices) and indices[-1] == 49
    assert [r.label for r in results] == [kit.is_anomalous(i) for i in indices]
    assert [r.timestamp for r in results] == sorted(r.timestamp for r in results)


def test_stopping_a_stream_whose_camera_hangs_in_read_returns(engine, kit):
    release = threading.Event()
    stop = threading.Event()
    capture = Capture("0", opener=kit.CameraScript(kit.sequence(3), stall=release))
    results = []

    def consume():
        for result in Stream(engine, capture, jobs=2, stop_event=stop, stop_timeout_s=0.2):
            results.append(result)
            if len(results) == 3:
                stop.set()  # Ctrl-C while the camera thread hangs in read()

    consumer = threading.Thread(target=consume, daemon=True)
    try:
        consumer.start()
        consumer.join(timeout=60)  # a guard against hanging the test run, not a timing check
        assert not consumer.is_alive(), "the stream did not return after its stop event was set"
    finally:
        release.set()
    assert [r.index for r in results] == [0, 1, 2]
