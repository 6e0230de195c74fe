"""Streams over files and folders: one result per frame, in frame order, skips counted, clean ends."""

from __future__ import annotations

import cv2
import openvino as ov
import pytest

from edgekit.devices import PerformanceHint
from edgekit.errors import DataError
from edgekit.runtime import Engine, run, stream


@pytest.fixture(scope="module")
def engine(bundle_dir):
    return Engine(bundle_dir, hint=PerformanceHint.THROUGHPUT)


@pytest.fixture(scope="module")
def video(kit, tmp_path_factory):
    return kit.write_video(tmp_path_factory.mktemp("video") / "clip.avi", kit.sequence(12))


def test_a_video_gives_one_result_per_frame_in_order(engine, video, kit):
    results = list(stream(engine, str(video), jobs=3))
    assert [r.index for r in results] == list(range(12))
    assert [r.label for r in results] == [kit.is_anomalous(i) for i in range(12)]
    assert [r.timestamp for r in results] == sorted(r.timestamp for r in results)
    assert all(r.source_hw == kit.GRID.image_hw for r in results)


def test_results_stay_in_frame_order_when_requests_finish_out_of_order(engine, video, kit, monkeypatch):
    kit.SwappingQueue.instances.clear()
    monkeypatch.setattr(ov, "AsyncInferQueue", kit.SwappingQueue)
    results = list(stream(engine, str(video), jobs=3))
    (queue,) = kit.SwappingQueue.instances
    assert queue.finished[:4] == [1, 0, 3, 2]  # the requests really did finish out of order
    assert [r.index for r in results] == list(range(12))
    assert [r.label for r in results] == [kit.is_anomalous(i) for i in range(12)]


def test_a_consumer_that_breaks_off_leaves_no_request_running(engine, video, kit, monkeypatch):
    kit.SwappingQueue.instances.clear()
    monkeypatch.setattr(ov, "AsyncInferQueue", kit.SwappingQueue)
    results = iter(s := stream(engine, str(video), jobs=3))
    assert next(results).index == 0
    (queue,) = kit.SwappingQueue.instances
    assert queue.held is not None  # a request is still running (held back by the fake queue)
    results.close()
    assert queue.held is None and sorted(queue.finished) == list(range(queue.submitted))
    assert not s.capture._thread.is_alive()


def test_a_video_that_ends_finishes_cleanly(bundle_dir, video, tmp_path):
    report = run(bundle_dir, str(video), out=tmp_path / "out", jobs=3, warmup=2)
    assert report.stopped_by == "end"
    assert (report.frames, report.skipped, report.dropped, report.reconnects) == (12, 0, 0, 0)
    assert report.anomalous == 4 and not report.source_lost


def test_a_truncated_video_ends_cleanly_with_the_frames_it_holds(bundle_dir, kit, tmp_path):
    data = kit.write_video(tmp_path / "clip.avi", kit.sequence(30)).read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: int(len(data) * 0.7)])  # a copy interrupted part way: no AVI index, last frames gone
    report = run(bundle_dir, str(cut), out=tmp_path / "out")
    assert report.stopped_by == "end" and 0 < report.frames < 30
    lines = kit.read_lines(tmp_path / "out" / "results.jsonl")
    assert [line["index"] for line in lines] == list(range(report.frames))
    assert [line["label"] == "anomalous" for line in lines] == [kit.is_anomalous(i) for i in range(len(lines))]


def test_max_frames_stops_early(bundle_dir, video):
    report = run(bundle_dir, str(video), max_frames=5)
    assert report.stopped_by == "max_frames" and report.frames == 5


def test_corrupt_files_in_a_folder_are_skipped_and_counted(engine, kit, tmp_path):
    folder = kit.write_folder(tmp_path / "frames", kit.sequence(10))
    (folder / "000003.png").write_bytes(b"these are not the bytes of an image")
    truncated = (folder / "000006.png").read_bytes()
    (folder / "000006.png").write_bytes(truncated[: len(truncated) // 2])
    (folder / "000008.png").write_bytes(b"")
    results = list(s := stream(engine, str(folder), jobs=3))
    kept = [0, 1, 2, 4, 5, 7, 9]
    assert [r.index for r in results] == kept  # skipped frames keep their place in the numbering
    assert [r.label for r in results] == [kit.is_anomalous(i) for i in kept]
    assert s.capture.stats.skipped == 3
    assert [p.rsplit("/", 1)[-1] for p in s.capture.stats.skipped_items] == ["000003.png", "000006.png", "000008.png"]


def test_the_report_counts_skipped_files_and_the_stream_goes_on(bundle_dir, kit, tmp_path):
    folder = kit.write_folder(tmp_path / "frames", kit.sequence(6))
    (folder / "000002.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    report = run(bundle_dir, str(folder), out=tmp_path / "out")
    assert (report.frames, report.skipped, report.stopped_by) == (5, 1, "end")
    assert report.skipped_items[0].endswith("000002.png")
    assert [line["index"] for line in kit.read_lines(tmp_path / "out" / "results.jsonl")] == [0, 1, 3, 4, 5]


def test_frames_of_another_size_in_a_stream_are_resized_or_refused_under_strict(bundle_dir, kit, tmp_path):
    big = [cv2.resize(f, (96, 96), interpolation=cv2.INTER_NEAREST) for f in kit.sequence(4)]
    folder = kit.write_folder(tmp_path / "big", big)
    results = list(stream(bundle_dir, str(folder)))
    assert [r.label for r in results] == [kit.is_anomalous(i) for i in range(4)]
    assert all(r.source_hw == (96, 96) and r.anomaly_map.shape == kit.GRID.image_hw for r in results)
    with pytest.raises(DataError, match="96x96"):
        list(stream(bundle_dir, str(folder), strict=True))


def test_gray_and_16_bit_images_in_a_folder_are_converted(engine, kit, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), cv2.cvtColor(kit.square_frame(), cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(folder / "b.png"), kit.gray_frame().astype("uint16") * 257)
    cv2.imwrite(str(folder / "c.png"), cv2.cvtColor(kit.square_frame(), cv2.COLOR_BGR2BGRA))
    assert [r.label for r in stream(engine, str(folder))] == [True, False, True]


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: p / "missing", "not found"),
        (lambda p: p, "holds no images"),
        (lambda p: (p / "one.png").write_bytes(b"x") and p / "one.png", "single image"),
        (lambda p: (p / "noise.avi").write_bytes(b"not a video") and p / "noise.avi", "cannot open source"),
    ],
    ids=["missing", "empty-folder", "single-image", "not-a-video"],
)
def test_unusable_sources_are_one_line_errors(engine, tmp_path, make, match):
    with pytest.raises(DataError, match=match) as info:
        list(stream(engine, str(make(tmp_path))))
    assert "\n" not in str(info.value)
