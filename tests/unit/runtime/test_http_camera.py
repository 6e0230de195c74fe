"""A network camera for real: ffmpeg (imageio-ffmpeg's static binary) serves MJPEG over HTTP on loopback.

The server is killed mid-run and started again on the same port, as a camera that reboots: the run
reconnects with backoff and goes on to the frame count asked for; nothing is lost from the results
that were already written.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    """Whether something listens on 127.0.0.1:port, read from /proc/net/tcp (no connection made).

    ffmpeg's ``-listen 1`` serves exactly one client: probing it with a connection would use it up.
    """
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        if state == "0A" and int(local.split(":")[1], 16) == port:
            return True
    return False


class MjpegCamera:
    """``ffmpeg -re -stream_loop -1 -i VIDEO -f mpjpeg -listen 1 http://127.0.0.1:PORT/feed.mjpg``."""

    def __init__(self, video: Path) -> None:
        self.video = video
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/feed.mjpg"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-re", "-stream_loop", "-1", "-i",
             str(self.video), "-f", "mpjpeg", "-q:v", "3", "-listen", "1", self.url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not _listening(self.port):
            assert self.process.poll() is None and time.monotonic() < deadline, "ffmpeg did not start listening"
            time.sleep(0.05)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)


@pytest.fixture
def camera(tmp_path: Path):
    video = tmp_path / "scene.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 64))
    for i in range(50):
        writer.write(np.full((64, 64, 3), 90 + i, np.uint8))
    writer.release()
    cam = MjpegCamera(video)
    cam.start()
    yield cam
    cam.kill()


@pytest.mark.slow
def test_an_http_camera_that_reboots_is_reconnected_and_the_run_goes_on(bundle_dir, kit, tmp_path, camera):
    from edgekit.runtime import run

    rebooted = threading.Event()

    def reboot() -> None:
        camera.kill()
        time.sleep(2.0)  # the camera is away for 2 s
        camera.start()
        rebooted.set()

    def on_result(_result, frames, _fps):
        if frames == 15:
            threading.Thread(target=reboot, daemon=True).start()

    out = tmp_path / "out"
    report = run(bundle_dir, f"cam={camera.url}", out=out, max_frames=60, reconnect=None, on_result=on_result)
    assert rebooted.is_set()
    assert report.stopped_by == "max_frames" and report.reconnects >= 1 and not report.source_lost
    # a live source drops the oldest frame when the consumer falls behind: every frame read is accounted for
    assert report.frames + report.dropped + report.skipped == 60 and report.frames >= 50
    lines = kit.read_lines(out / "results.jsonl")
    indices = [line["index"] for line in lines]
    assert len(lines) == report.frames and indices == sorted(set(indices))
    assert {line["stream"] for line in lines} == {"cam"} and indices[-1] >= 50  # frames after the reboot arrived
