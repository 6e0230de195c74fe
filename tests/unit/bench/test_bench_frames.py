"""The frames every mode measures: read once, looped, brought to the grid's size, stored losslessly."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from edgekit.bench.frames import MemoryVideo, store_frames
from edgekit.errors import DataError
from edgekit.runtime.sources import Capture


def _distinct_frames(kit: SimpleNamespace, n: int, size: int = 32) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    frames = []
    for i in range(n):
        frame = kit.texture(rng, size)
        frame[i : i + 4, i : i + 4] = (0, 0, 255)  # each frame different, and not gray (BGR order matters)
        frames.append(frame)
    return frames


def _read_clip(clip: Path) -> list[np.ndarray]:
    if clip.is_dir():
        return [cv2.imread(str(p)) for p in sorted(clip.glob("*.png"))]
    cap = cv2.VideoCapture(str(clip))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            return frames
        frames.append(frame)


def test_short_folder_is_looped_and_stored_exactly(kit: SimpleNamespace, tmp_path: Path) -> None:
    images = _distinct_frames(kit, 3)
    folder = tmp_path / "images"
    folder.mkdir()
    for i, image in enumerate(images):
        assert cv2.imwrite(str(folder / f"{i}.png"), image)
    stored = store_frames(str(folder), (32, 32), 7, tmp_path / "work")
    frames = np.load(stored.array)
    assert frames.shape == (7, 32, 32, 3)
    assert frames.dtype == np.uint8
    for i in range(7):
        np.testing.assert_array_equal(frames[i], images[i % 3])
    assert (stored.count, stored.source_frames, stored.source_kind) == (7, 3, "folder")
    assert stored.decode_ms > 0
    assert stored.clip_decode_ms > 0
    # the streaming mode's clip, read back by OpenCV on its own, holds the same pixels
    clip = _read_clip(stored.clip)
    assert len(clip) == 7
    for i in range(7):
        np.testing.assert_array_equal(clip[i], images[i % 3])


def test_video_of_another_size_is_brought_to_the_grid(kit: SimpleNamespace, tmp_path: Path) -> None:
    video = kit.write_video(tmp_path / "v.avi", _distinct_frames(kit, 4, size=48))
    stored = store_frames(str(video), (32, 32), 6, tmp_path / "work")
    frames = np.load(stored.array)
    assert frames.shape == (6, 32, 32, 3)
    assert stored.source_hw == (48, 48)
    assert stored.source_frames == 4
    np.testing.assert_array_equal(frames[4], frames[0])  # looped after the 4 frames of the video


def test_a_source_longer_than_needed_is_cut(kit: SimpleNamespace, tmp_path: Path) -> None:
    video = kit.write_video(tmp_path / "v.avi", _distinct_frames(kit, 6))
    stored = store_frames(str(video), (32, 32), 4, tmp_path / "work")
    assert np.load(stored.array).shape[0] == 4
    assert stored.source_frames == 4


def test_stored_frames_replace_the_previous_ones(kit: SimpleNamespace, tmp_path: Path) -> None:
    video = kit.write_video(tmp_path / "v.avi", _distinct_frames(kit, 2))
    store_frames(str(video), (32, 32), 9, tmp_path / "work")
    stored = store_frames(str(video), (32, 32), 3, tmp_path / "work")
    assert np.load(stored.array).shape[0] == 3
    assert len(_read_clip(stored.clip)) == 3


@pytest.mark.parametrize("kind", ["missing", "garbage", "empty_folder", "single_image"])
def test_unusable_sources_are_refused(tmp_path: Path, kind: str) -> None:
    source = tmp_path / kind
    if kind == "garbage":
        source = tmp_path / "garbage.avi"
        source.write_bytes(b"this is not a video" * 100)
    elif kind == "empty_folder":
        source.mkdir()
    elif kind == "single_image":
        source = tmp_path / "one.png"
        assert cv2.imwrite(str(source), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(DataError, match="accepted"):
        store_frames(str(source), (32, 32), 4, tmp_path / "work")
    assert not (tmp_path / "work").exists()


def test_memory_video_feeds_the_runtime_capture_every_frame_in_order(kit: SimpleNamespace, tmp_path: Path) -> None:
    frames = np.stack(_distinct_frames(kit, 5))
    array = tmp_path / "frames.npy"
    np.save(array, frames)
    capture = Capture(str(array), opener=lambda _target: MemoryVideo(frames)).start()
    got = []
    while (frame := capture.queue.get(timeout=5)) is not None:
        got.append(frame)
    capture.join()
    assert [f.index for f in got] == [0, 1, 2, 3, 4]
    for frame, expected in zip(got, frames, strict=True):
        np.testing.assert_array_equal(frame.image, expected)
    assert [f.timestamp for f in got] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    assert capture.stats.read == 5
    assert capture.stats.skipped == 0
