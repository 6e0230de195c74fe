"""``edgekit run`` in a real process: SIGINT/SIGTERM stop cleanly, SIGKILL leaves only whole lines."""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# The fake model runs a 64x64 frame in well under a millisecond, so a folder of frames would be done
# before a signal arrives. The child slows the folder source down to one frame per 20 ms: 400 frames
# keep it busy for 8 s, far longer than the test needs (it signals after a few lines).
CHILD = """
import time
import edgekit.runtime.sources as sources
_frames = sources._folder_frames
def _slow(folder, stats):
    for item in _frames(folder, stats):
        time.sleep(0.02)
        yield item
sources._folder_frames = _slow
from edgekit.cli.main import main
main()
"""
N_FRAMES = 400


def _runtime_kit():
    path = Path(__file__).resolve().parents[1] / "runtime" / "conftest.py"
    spec = importlib.util.spec_from_file_location("edgekit_tests_runtime_kit_signals", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


kit = _runtime_kit()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return kit.write_bundle(tmp_path_factory.mktemp("bundle") / "bundle")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return kit.write_folder(tmp_path_factory.mktemp("frames") / "frames", kit.sequence(N_FRAMES))


def start(bundle, folder, out, streams=1):
    sources = [a for i in range(streams) for a in ("--source", f"cam{i}={folder}" if streams > 1 else str(folder))]
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, "run", str(bundle), *sources, "--out", str(out), "--jobs", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_lines(process, path, n=5, deadline_s=60.0):
    """Wait until ``path`` holds ``n`` lines (the run is well under way) while the process lives."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if path.is_file() and path.read_bytes().count(b"\n") >= n:
            return
        if process.poll() is not None:
            pytest.fail(f"edgekit run ended early ({process.returncode}): {process.stderr.read()}")
        time.sleep(0.02)
    process.kill()
    pytest.fail(f"no {n} lines in {path} after {deadline_s} s")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stop_signal_finishes_cleanly_with_a_report(bundle, folder, tmp_path, sig):
    out = tmp_path / "out"
    process = start(bundle, folder, out)
    wait_for_lines(process, out / "results.jsonl")
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    report = json.loads((out / "report.json").read_text())
    lines = kit.read_lines(out / "results.jsonl")
    assert report["stopped_by"] == sig.name and f"stopped by {sig.name}" in stdout
    assert 5 <= report["frames"] < N_FRAMES
    assert report["frames"] == len(lines)
    assert report["anomalous"] == sum(line["label"] == "anomalous" for line in lines)
    assert [line["index"] for line in lines] == list(range(len(lines)))


@pytest.mark.slow
def test_sigkill_leaves_only_complete_lines(bundle, folder, tmp_path):
    out = tmp_path / "out"
    process = start(bundle, folder, out)
    wait_for_lines(process, out / "results.jsonl")
    process.kill()
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    lines = kit.read_lines(out / "results.jsonl")  # every line parses; the file ends with a newline
    assert len(lines) >= 5
    assert [line["index"] for line in lines] == list(range(len(lines)))
    assert [line["label"] == "anomalous" for line in lines] == [kit.is_anomalous(i) for i in range(len(lines))]
    assert not (out / "report.json").exists()


@pytest.mark.slow
def test_sigkill_with_several_streams_leaves_only_complete_lines_in_order(bundle, folder, tmp_path):
    out = tmp_path / "out"
    process = start(bundle, folder, out, streams=3)
    wait_for_lines(process, out / "results.jsonl", n=12)
    process.kill()
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    lines = kit.read_lines(out / "results.jsonl")
    assert {line["stream"] for line in lines} == {"cam0", "cam1", "cam2"}
    for name in ("cam0", "cam1", "cam2"):
        mine = [line["index"] for line in lines if line["stream"] == name]
        assert mine == list(range(len(mine)))  # each stream's frames in order, none twice


@pytest.mark.slow
def test_a_second_signal_exits_at_once(bundle, folder, tmp_path):
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-c", CHILD.replace("time.sleep(0.02)", "time.sleep(0.02 if item[0] < 6 else 600)"),
         "run", str(bundle), "--source", str(folder), "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_lines(process, out / "results.jsonl", n=6)  # frames 0-5 done; the source is now stuck on 6
    process.send_signal(signal.SIGINT)  # the clean stop now waits for the stuck source (up to 5 s)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130 and "SIGINT again: exiting now" in stderr
    lines = kit.read_lines(out / "results.jsonl")
    assert [line["index"] for line in lines] == list(range(len(lines)))
