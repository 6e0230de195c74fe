"""write_video: the file reads back, and a codec that fails falls back to the next."""

import numpy as np

from edgekit.demo import video


def _frames(n, hw):
    return lambda: (np.full((*hw, 3), 20 * i, np.uint8) for i in range(n))


def test_default_video_is_lossless(tmp_path):
    import cv2

    written = video.write_video(tmp_path / "s", _frames(5, (64, 96)), 5, 10.0, (64, 96))
    assert written.path == tmp_path / "s.avi" and written.fourcc == "FFV1"
    assert video.check_video(written.path, 5, (64, 96)) is None
    assert video.check_video(written.path, 6, (64, 96)) == "read 5 frames, expected 6"
    cap = cv2.VideoCapture(str(written.path))
    for expected in _frames(5, (64, 96))():
        ok, frame = cap.read()
        assert ok and np.array_equal(frame, expected)


def test_mp4_reads_back(tmp_path, monkeypatch):
    monkeypatch.setattr(video, "CANDIDATES", (("mp4v", ".mp4"),))
    written = video.write_video(tmp_path / "s", _frames(5, (64, 96)), 5, 10.0, (64, 96))
    assert written.path == tmp_path / "s.mp4" and written.fourcc == "mp4v"
    assert video.check_video(written.path, 5, (64, 96)) is None


def test_falls_back_when_a_codec_cannot_write(tmp_path, monkeypatch):
    monkeypatch.setattr(video, "CANDIDATES", (("NOPE", ".mp4"), ("MJPG", ".avi")))
    written = video.write_video(tmp_path / "s", _frames(4, (64, 64)), 4, 10.0, (64, 64))
    assert written.path == tmp_path / "s.avi" and written.fourcc == "MJPG"
    assert not (tmp_path / "s.mp4").exists()
    assert video.check_video(written.path, 4, (64, 64)) is None
