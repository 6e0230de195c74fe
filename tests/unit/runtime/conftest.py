"""Fakes for runtime tests: a tiny bundle with no trained model, frames, videos, folders, a camera, a core.

The fake bundle is a stored IR of the real kind (input ``input`` f32 ``[1, 3, 64, 64]`` RGB in [0, 1],
anomalib's four outputs, edgekit's post-processing appended by ``edgekit.export.post``) whose raw
map is ``255 * (1 - mean over channels)``: dark pixels are "anomalous", the raw score is the map's
maximum. With the thresholds below a mid-gray frame (128) is normal (raw score 127 < 180) and a
black square on it is anomalous (raw score 255 > 180), its mask exactly the square.

Tests reach the helpers through the ``kit`` fixture (this module), so no test imports a conftest.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import cv2
import numpy as np
import pytest

from edgekit.artifacts.files import sha256_file
from edgekit.artifacts.manifest import EnsembleManifest, JoinRules
from edgekit.artifacts.record import FileEntry, Thresholds
from edgekit.tiling import TileGrid

GRID = TileGrid(64, 32, 32)
GRAY = 128
SQUARE = (10, 20, 8)  # y0, x0, size of the dark square of an anomalous frame
THRESHOLDS = Thresholds(
    image_threshold=180.0,
    pixel_threshold=180.0,
    image_min=100.0,
    image_max=255.0,
    pixel_min=100.0,
    pixel_max=255.0,
    method="normal_quantile",
    detail="fixed values for the fake bundle",
)


# --- the bundle ------------------------------------------------------------------------------


def fake_model(nan: bool = False) -> Any:
    """A stored-IR-shaped ``ov.Model``: darkness as the raw anomaly map, edgekit's post-processing on top.

    Args:
        nan: Make the raw map NaN wherever a pixel is pure white (a model failing on some frames).
    """
    import openvino as ov
    from openvino import opset13 as ops

    from edgekit.export.post import with_postprocessing

    h, w = GRID.image_hw
    frame = ops.parameter([1, 3, h, w], ov.Type.f32, name="input")
    frame.output(0).get_tensor().set_names({"input"})
    mean = ops.reduce_mean(frame, ops.constant(np.array([1], dtype=np.int64)), True)  # [1, 1, H, W]
    raw_map = ops.multiply(ops.subtract(ops.constant(np.float32(1.0)), mean), ops.constant(np.float32(255.0)))
    if nan:
        white = ops.greater_equal(mean, ops.constant(np.float32(1.0)))
        raw_map = ops.select(white, ops.constant(np.float32(np.nan)), raw_map)
    raw_score = ops.reduce_max(raw_map, ops.constant(np.array([1, 2, 3], dtype=np.int64)), False)  # [1]
    results = []
    for node, name in ((raw_map, "raw_map"), (raw_score, "raw_score")):
        result = ops.result(node)
        result.output(0).get_tensor().set_names({name})
        results.append(result)
    return with_postprocessing(ov.Model(results, [frame], "fake_ensemble"), THRESHOLDS)


def write_bundle(folder: Path, *, nan: bool = False) -> Path:
    """Write the fake bundle (IR + manifest with hashes) into ``folder`` and return it."""
    import openvino as ov

    folder.mkdir(parents=True, exist_ok=True)
    ov.save_model(fake_model(nan), folder / "ensemble.xml", compress_to_fp16=False)
    files = tuple(
        FileEntry(path=name, sha256=sha256_file(folder / name), bytes=(folder / name).stat().st_size)
        for name in ("ensemble.xml", "ensemble.bin")
    )
    h, w = GRID.image_hw
    EnsembleManifest(
        model="fake",
        backbone="none",
        precision="fp32",
        grid=GRID,
        frames_per_call=1,
        input={"name": "input", "shape": [1, 3, h, w], "dtype": "f32", "layout": "NCHW", "color": "RGB"},
        outputs={"pred_score": [1], "pred_label": [1], "anomaly_map": [1, 1, h, w], "pred_mask": [1, 1, h, w]},
        files=files,
        join=JoinRules(score_rule="max"),
        thresholds=THRESHOLDS,
        accuracy={},
        sizes={"ir_bytes": sum(f.bytes for f in files)},
        quantization={"inference_precision": "f32", "method": "none"},
        source={"run": "fake"},
        versions={"edgekit": "test"},
        created_utc="2026-01-01T00:00:00+00:00",
    ).save(folder)
    return folder


# --- frames, videos, folders, results ----------------------------------------------------------


def gray_frame(value: int = GRAY, hw: tuple[int, int] = GRID.image_hw) -> np.ndarray:
    """A uniform BGR frame."""
    return np.full((*hw, 3), value, dtype=np.uint8)


def square_frame() -> np.ndarray:
    """A gray frame with a black square at :data:`SQUARE`."""
    y0, x0, size = SQUARE
    frame = gray_frame()
    frame[y0 : y0 + size, x0 : x0 + size] = 0
    return frame


def is_anomalous(i: int) -> bool:
    """Whether frame ``i`` of :func:`sequence` holds the square: the pattern makes order visible."""
    return i % 3 == 1


def sequence(n: int) -> list[np.ndarray]:
    """``n`` frames, anomalous where :func:`is_anomalous`."""
    return [square_frame() if is_anomalous(i) else gray_frame() for i in range(n)]


def write_video(path: Path, frames: list[np.ndarray], fps: float = 25.0) -> Path:
    """A lossless FFV1 .avi of the frames."""
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), fps, (w, h))
    assert writer.isOpened(), "OpenCV cannot write FFV1 here"
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def write_folder(folder: Path, frames: list[np.ndarray]) -> Path:
    """An image folder ``000000.png``, ``000001.png``, ... of the frames."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        assert cv2.imwrite(str(folder / f"{i:06d}.png"), frame)
    return folder


def read_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of a ``results.jsonl``, parsed; fails on a partial line."""
    text = path.read_text()
    assert text == "" or text.endswith("\n"), f"{path} does not end with a complete line"
    return [json.loads(line) for line in text.splitlines()]


# --- a camera that fails and comes back --------------------------------------------------------


class FakeCamera:
    """``cv2.VideoCapture``-like: delivers its frames, then ``read`` fails (the camera was unplugged).

    With ``stall``, ``read`` after the last frame hangs until the event is set (a network stream
    that stopped sending without closing).
    """

    def __init__(self, frames: list[np.ndarray] | None, stall: threading.Event | None = None) -> None:
        self.frames = list(frames) if frames is not None else None
        self.stall = stall
        self.released = False

    def isOpened(self) -> bool:  # OpenCV's name
        return self.frames is not None and not self.released

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self.stall is not None and self.isOpened() and not self.frames:
            self.stall.wait()
        if not self.isOpened() or not self.frames:
            return False, None
        return True, self.frames.pop(0)

    def get(self, _prop: int) -> float:
        return 0.0

    def release(self) -> None:
        self.released = True


class CameraScript:
    """An ``opener`` for :class:`~edgekit.runtime.sources.Capture`: each open is the next session.

    A session is a list of frames (the camera delivers them, then stops) or ``None`` (the open
    fails). Past the script, every open fails. ``stall`` is handed to every camera.
    """

    def __init__(self, *sessions: list[np.ndarray] | None, stall: threading.Event | None = None) -> None:
        self.sessions = list(sessions)
        self.stall = stall
        self.opens: list[Any] = []

    def __call__(self, target: Any) -> FakeCamera:
        self.opens.append(target)
        return FakeCamera(self.sessions.pop(0) if self.sessions else None, self.stall)


# --- an inference queue whose requests finish out of order --------------------------------------


class SwappingQueue:
    """``ov.AsyncInferQueue`` stand-in whose requests finish in swapped pairs: 1, 0, 3, 2, ...

    Each request really runs the compiled model (so results are right), but the callback of every
    even submission is held until the next submission has finished. A timer releases a held one
    if nothing follows, so a stream of odd length still ends.
    """

    instances: ClassVar[list[SwappingQueue]] = []

    def __init__(self, compiled: Any, jobs: int = 0) -> None:
        self.request = compiled.create_infer_request()
        self.jobs = jobs
        self.callback: Any = None
        self.finished: list[Any] = []
        self.held: tuple[dict[str, np.ndarray], Any] | None = None
        self.submitted = 0
        self.lock = threading.RLock()
        self.timers: list[threading.Timer] = []
        SwappingQueue.instances.append(self)

    def set_callback(self, callback: Any) -> None:
        self.callback = callback

    def start_async(self, inputs: Any, userdata: Any = None, share_inputs: bool = False) -> None:
        with self.lock:
            out = self.request.infer(inputs)
            maps = {port.get_any_name(): np.array(value) for port, value in out.items()}
            self.submitted += 1
            if self.submitted % 2 == 1:
                self.held = (maps, userdata)
                timer = threading.Timer(2.0, self._release)
                self.timers.append(timer)
                timer.start()
                return
            self._finish(maps, userdata)
            self._release()

    def _release(self) -> None:
        with self.lock:
            if self.held is not None:
                held, self.held = self.held, None
                self._finish(*held)

    def _finish(self, maps: dict[str, np.ndarray], userdata: Any) -> None:
        self.finished.append(userdata)
        request = SimpleNamespace(get_tensor=lambda name: SimpleNamespace(data=maps[name]))
        self.callback(request, userdata)

    def wait_all(self) -> None:
        self._release()
        for timer in self.timers:
            timer.cancel()


# --- an OpenVINO core with other devices --------------------------------------------------------


class RecordingCore:
    """A ``CoreLike`` listing ``devices``; records every ``compile_model`` and compiles on the real CPU.

    Args:
        devices: What ``available_devices`` lists.
        fail: If given, ``compile_model`` raises ``RuntimeError`` with this message.
    """

    def __init__(self, devices: tuple[str, ...] = ("CPU", "GPU"), fail: str | None = None) -> None:
        self.devices = devices
        self.fail = fail
        self.compiled: list[tuple[Any, str, dict[str, str]]] = []

    @property
    def available_devices(self) -> list[str]:
        return list(self.devices)

    def get_property(self, device_name: str, name: str, /) -> Any:
        msg = f"Exception from src/inference/src/cpp/core.cpp:268:\nCannot get unsupported property: {name}\n"
        raise RuntimeError(msg)

    def read_model(self, path: str) -> Any:
        import openvino as ov

        return ov.Core().read_model(path)

    def compile_model(self, model: Any, device_name: str, config: dict[str, str] | None = None) -> Any:
        import openvino as ov

        self.compiled.append((model, device_name, dict(config or {})))
        if self.fail is not None:
            raise RuntimeError(self.fail)
        return ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def kit() -> SimpleNamespace:
    """The frame, video, folder and fake helpers of this conftest (conftest modules are not importable by name)."""
    return SimpleNamespace(**{name: value for name, value in globals().items() if not name.startswith("_")})


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fake bundle, shared by the session: copy it (``bundle_copy``) before altering it."""
    return write_bundle(tmp_path_factory.mktemp("bundle") / "bundle")


@pytest.fixture
def bundle_copy(bundle_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the fake bundle that a test may alter."""
    return Path(shutil.copytree(bundle_dir, tmp_path / "bundle"))


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Any]:
    """A real mosquitto broker on a free loopback port for one test (Debian's; skipped where absent)."""
    from mqtt_broker import Mosquitto, find_mosquitto

    binary = find_mosquitto()
    if binary is None:
        pytest.skip("mosquitto is not installed: apt-get install mosquitto (make test installs it when run as root)")
    server = Mosquitto(binary, tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
