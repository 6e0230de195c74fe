"""``edgekit serve`` on loopback, talked to by tritonclient's HTTP and gRPC clients and by ``edgekit run --server``.

The server is a real process (kserve's ModelServer, uvicorn and grpc.aio) serving the fake bundle on
free ports; every answer is checked against the same frame run in this process. kserve is never
imported here: its protobuf module and tritonclient's gRPC module define the same message names and
can't share one process.
"""

from __future__ import annotations

import importlib.util
import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

if importlib.util.find_spec("kserve") is None:
    pytest.skip("kserve is not installed: pip install 'edgekit[serve]'", allow_module_level=True)
http = pytest.importorskip("tritonclient.http")
grpc = pytest.importorskip("tritonclient.grpc")
from oip_server import Served  # noqa: E402 (after the skips)
from tritonclient.utils import InferenceServerException  # noqa: E402

from edgekit.artifacts.ir import OUTPUT_NAMES, to_input  # noqa: E402

MODULES = {"http": http, "grpc": grpc}


@pytest.fixture(scope="module")
def server(bundle_dir, tmp_path_factory):
    """One server for the module: 4 frames per call, 1 MiB bodies at most."""
    log = tmp_path_factory.mktemp("serve") / "server.log"
    served = Served(bundle_dir, log, "--batch", "4", "--max-wait-ms", "20", "--max-body-mb", "1").start()
    yield served
    code = served.stop()
    assert code == 0, served.log()


@pytest.fixture(scope="module")
def frames(kit):
    """Normal and anomalous frames."""
    return [kit.gray_frame(), kit.square_frame(), kit.gray_frame(100), kit.square_frame()[::-1].copy()]


@pytest.fixture(scope="module")
def local(bundle_dir, frames):
    """Each frame's result in this process."""
    from edgekit.runtime import load

    engine = load(bundle_dir)
    return [engine.predict(frame) for frame in frames]


def _client(protocol, served):
    return MODULES[protocol].InferenceServerClient(served.http if protocol == "http" else served.grpc)


def _infer(protocol, served, array, datatype, outputs=OUTPUT_NAMES, model="edgekit"):
    module = MODULES[protocol]
    tensor = module.InferInput("input", list(array.shape), datatype)
    if protocol == "http":
        tensor.set_data_from_numpy(array, binary_data=True)
        wanted = [module.InferRequestedOutput(name, binary_data=True) for name in outputs]
    else:
        tensor.set_data_from_numpy(array)
        wanted = [module.InferRequestedOutput(name) for name in outputs]
    return _client(protocol, served).infer(model, [tensor], outputs=wanted)


def _png(frame):
    return cv2.imencode(".png", frame)[1].tobytes()


def _as(kind, frames):
    if kind == "uint8":
        return np.stack(frames), "UINT8"
    if kind == "fp32":
        return to_input(np.stack(frames)), "FP32"
    return np.array([_png(f) for f in frames], dtype=np.object_), "BYTES"


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_health_and_metadata_describe_the_bundle(server, protocol):
    client = _client(protocol, server)
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("edgekit")
    meta = client.get_model_metadata("edgekit")
    if protocol == "grpc":
        from google.protobuf.json_format import MessageToDict

        meta = MessageToDict(meta, preserving_proto_field_name=True)
    (tensor,) = meta["inputs"]
    assert tensor["name"] == "input" and tensor["datatype"] == "UINT8"
    assert [int(d) for d in tensor["shape"]] == [-1, 64, 64, 3]
    outputs = {o["name"]: (o["datatype"], [int(d) for d in o["shape"]]) for o in meta["outputs"]}
    assert outputs == {
        "pred_score": ("FP32", [-1]),
        "pred_label": ("BOOL", [-1]),
        "anomaly_map": ("FP32", [-1, 1, 64, 64]),
        "pred_mask": ("BOOL", [-1, 1, 64, 64]),
    }


@pytest.mark.parametrize("kind", ["uint8", "fp32", "png"])
@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_every_input_form_gets_the_in_process_result(server, frames, local, protocol, kind):
    array, datatype = _as(kind, frames)
    answer = _infer(protocol, server, array, datatype)
    scores = answer.as_numpy("pred_score")
    assert scores.shape == (len(frames),)
    np.testing.assert_allclose(scores, [r.score for r in local], atol=1e-3)
    assert answer.as_numpy("pred_label").tolist() == [r.label for r in local]
    maps = answer.as_numpy("anomaly_map")
    for got, ref in zip(maps, local, strict=True):
        np.testing.assert_allclose(got[0], ref.anomaly_map, atol=1e-3)
    masks = answer.as_numpy("pred_mask")
    assert masks.dtype == np.bool_
    assert [bool((m[0] == r.mask).all()) for m, r in zip(masks, local, strict=True)] == [True] * len(frames)


def test_both_labels_occur_among_the_frames(local):
    assert {r.label for r in local} == {True, False}


def test_a_png_of_another_size_is_resized_like_a_local_run(server, kit, bundle_dir):
    from edgekit.runtime import load

    big = cv2.resize(kit.square_frame(), (128, 96), interpolation=cv2.INTER_NEAREST)
    expected = load(bundle_dir).predict(big)
    answer = _infer("grpc", server, np.array([_png(big)], dtype=np.object_), "BYTES")
    assert abs(float(answer.as_numpy("pred_score")[0]) - expected.score) <= 1e-3


def test_only_the_requested_outputs_come_back(server, frames):
    answer = _infer("http", server, np.stack(frames[:1]), "UINT8", outputs=("pred_score",))
    assert answer.as_numpy("pred_score").shape == (1,)
    assert answer.as_numpy("anomaly_map") is None


# --- bad requests: one clear 4xx, and the server goes on ----------------------------------------


def _post(server, path, body, headers):
    request = urllib.request.Request(f"http://{server.http}{path}", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _binary_body(datatype, shape, raw, header_length=None):
    header = json.dumps(
        {
            "inputs": [
                {"name": "input", "shape": shape, "datatype": datatype, "parameters": {"binary_data_size": len(raw)}}
            ]
        }
    ).encode()
    length = str(len(header) if header_length is None else header_length)
    return header + raw, {"Inference-Header-Content-Length": length, "Content-Type": "application/octet-stream"}


BAD_TENSORS = {
    "wrong shape": (np.zeros((1, 32, 32, 3), np.uint8), "UINT8", "is UINT8 [1, 32, 32, 3]; accepted"),
    "wrong datatype": (np.zeros((1, 64, 64, 3), np.int32), "INT32", "is INT32 [1, 64, 64, 3]; accepted"),
    "channels first as uint8": (np.zeros((1, 3, 64, 64), np.uint8), "UINT8", "is UINT8 [1, 3, 64, 64]"),
    "undecodable bytes": (np.array([b"not an image"], dtype=np.object_), "BYTES", "not a decodable JPEG or PNG"),
    "0-255 floats": (np.full((1, 3, 64, 64), 128.0, np.float32), "FP32", "holds values from 128 to 128"),
    "NaN floats": (np.full((1, 3, 64, 64), np.nan, np.float32), "FP32", "accepted: RGB in [0, 1]"),
    "too many frames": (np.zeros((65, 64, 64, 3), np.uint8), "UINT8", "holds 65 frames; accepted: 1 to 64"),
}


@pytest.mark.parametrize("case", sorted(BAD_TENSORS))
@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_a_bad_tensor_gets_one_clear_refusal_and_the_server_goes_on(server, frames, local, protocol, case):
    array, datatype, expected = BAD_TENSORS[case]
    with pytest.raises(InferenceServerException) as refused:
        _infer(protocol, server, array, datatype)
    status = str(refused.value.status())
    assert status in ("400", "StatusCode.INVALID_ARGUMENT"), refused.value
    message = refused.value.message()
    assert expected in message and "\n" not in message and "Traceback" not in message
    answer = _infer(protocol, server, np.stack(frames[:1]), "UINT8")
    assert abs(float(answer.as_numpy("pred_score")[0]) - local[0].score) <= 1e-3


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_an_unknown_model_is_404_or_not_found(server, frames, protocol):
    with pytest.raises(InferenceServerException) as refused:
        _infer(protocol, server, np.stack(frames[:1]), "UINT8", model="nope")
    assert str(refused.value.status()) in ("404", "StatusCode.NOT_FOUND")
    assert "nope" in refused.value.message()


def test_an_oversize_body_is_413_over_rest(server, frames):
    array = np.repeat(np.stack(frames[:1]), 64, axis=0).astype(np.float32) / 255  # 3 MiB > 1 MiB
    with pytest.raises(InferenceServerException) as refused:
        _infer("http", server, array.transpose(0, 3, 1, 2).copy(), "FP32")
    assert str(refused.value.status()) == "413"
    assert "over the server's limit of 1048576 bytes" in refused.value.message()
    assert server.ready()


def test_an_oversize_message_is_refused_over_grpc(server, frames):
    array = (np.repeat(np.stack(frames[:1]), 64, axis=0).astype(np.float32) / 255).transpose(0, 3, 1, 2).copy()
    with pytest.raises(InferenceServerException) as refused:
        _infer("grpc", server, array, "FP32")
    assert str(refused.value.status()) == "StatusCode.RESOURCE_EXHAUSTED"
    assert server.ready()


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("header length past the body", "the body holds"),
        ("header length not a number", "Inference-Header-Content-Length".lower()),
        ("binary size past the body", "binary bytes"),
        ("header is not JSON", "not an inference request"),
        ("bytes after the inputs", "beyond its declared inputs"),
        ("data too short for the shape", "do not fill its shape"),
    ],
)
def test_a_malformed_rest_body_is_400_naming_the_fault(server, case, expected):
    raw = np.zeros((1, 64, 64, 3), np.uint8).tobytes()
    body, headers = _binary_body("UINT8", [1, 64, 64, 3], raw)
    if case == "header length past the body":
        headers["Inference-Header-Content-Length"] = str(len(body) + 10)
    elif case == "header length not a number":
        headers["Inference-Header-Content-Length"] = "many"
    elif case == "binary size past the body":
        body = body[: -100]
    elif case == "header is not JSON":
        body, headers = b"{nope" + raw, {**headers, "Inference-Header-Content-Length": "5"}
    elif case == "bytes after the inputs":
        body += b"extra"
    elif case == "data too short for the shape":
        body, headers = _binary_body("UINT8", [1, 64, 64, 3], raw[:-3])
    status, answer = _post(server, "/v2/models/edgekit/infer", body, headers)
    assert status == 400, answer
    assert expected in json.loads(answer)["error"].lower() if expected.islower() else expected in answer.decode()
    assert server.ready()


def test_an_unknown_output_and_a_second_input_are_400(server, frames):
    with pytest.raises(InferenceServerException) as refused:
        _infer("http", server, np.stack(frames[:1]), "UINT8", outputs=("heatmap",))
    assert str(refused.value.status()) == "400" and "heatmap" in refused.value.message()
    body = json.dumps(
        {
            "inputs": [
                {"name": "input", "shape": [1], "datatype": "BYTES", "data": ["x"]},
                {"name": "extra", "shape": [1], "datatype": "BYTES", "data": ["y"]},
            ]
        }
    ).encode()
    status, answer = _post(server, "/v2/models/edgekit/infer", body, {"Content-Type": "application/json"})
    assert status == 400 and "exactly one input named 'input'" in answer.decode()


def test_client_errors_are_one_line_in_the_server_log(server):
    log = server.log()
    assert "client error:" in log
    assert "Traceback" not in log, log[-3000:]


# --- concurrency and batching -----------------------------------------------------------------------


def test_four_concurrent_clients_each_get_100_frames_answered_correctly(server, frames, local):
    """Two REST and two gRPC clients, 100 requests each, one frame per request: every answer is its frame's."""
    errors: list[str] = []

    def client(k: int) -> None:
        protocol = "http" if k % 2 == 0 else "grpc"
        for i in range(100):
            j = (i + k) % len(frames)
            try:
                answer = _infer(protocol, server, frames[j][None], "UINT8", outputs=("pred_score", "pred_label"))
                score = float(answer.as_numpy("pred_score")[0])
                if abs(score - local[j].score) > 1e-3 or bool(answer.as_numpy("pred_label")[0]) != local[j].label:
                    errors.append(f"client {k} request {i}: frame {j} got {score}, expected {local[j].score}")
            except InferenceServerException as error:
                errors.append(f"client {k} request {i}: {error}")

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors[:5]


def test_frames_of_requests_that_arrive_together_share_one_inference(server):
    stats = http.InferenceServerClient(server.http).get_inference_statistics("edgekit")
    (model,) = stats["model_stats"]
    sizes = {entry["batch_size"]: entry["compute_infer"]["count"] for entry in model["batch_stats"]}
    assert model["inference_count"] == sum(size * count for size, count in sizes.items())
    assert max(sizes) > 1, sizes  # the concurrent clients' frames were batched
    assert max(sizes) <= 4  # never more than --batch


# --- edgekit run --server ---------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["http", "grpc"])
def test_run_against_the_server_writes_what_a_local_run_writes(server, bundle_dir, kit, tmp_path, scheme):
    from click.testing import CliRunner

    from edgekit.cli.main import cli

    frames = [kit.square_frame() if i % 3 == 0 else kit.gray_frame(110 + i) for i in range(12)]
    folder = kit.write_folder(tmp_path / "frames", frames)
    address = server.http if scheme == "http" else server.grpc
    runner = CliRunner()
    remote = runner.invoke(
        cli, ["run", "--server", f"{scheme}://{address}", "--source", str(folder), "--out", str(tmp_path / "remote")]
    )
    assert remote.exit_code == 0, remote.output
    here = runner.invoke(cli, ["run", str(bundle_dir), "--source", str(folder), "--out", str(tmp_path / "local")])
    assert here.exit_code == 0, here.output

    def lines(name):
        return [json.loads(line) for line in (tmp_path / name / "results.jsonl").read_text().splitlines()]

    got, expected = lines("remote"), lines("local")
    assert len(got) == len(expected) == 12
    for a, b in zip(got, expected, strict=True):
        assert (a["stream"], a["index"], a["label"]) == (b["stream"], b["index"], b["label"])
        assert abs(a["score"] - b["score"]) <= 1e-3
        assert [box["xyxy"] for box in a["boxes"]] == [box["xyxy"] for box in b["boxes"]]
    report = json.loads((tmp_path / "remote" / "report.json").read_text())
    assert report["frames"] == 12 and report["frame_errors"] == 0 and report["device"].startswith("server ")


def test_run_against_a_server_that_is_not_there_exits_1_in_one_line(tmp_path, kit):
    from click.testing import CliRunner
    from oip_server import free_port

    from edgekit.cli.main import cli

    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "0.png"), kit.gray_frame())
    result = CliRunner().invoke(cli, ["run", "--server", f"http://127.0.0.1:{free_port()}", "--source", str(folder)])
    assert result.exit_code == 1
    assert "did not answer" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--server", "ftp://x"], "--server 'ftp://x' is not accepted"),
        ([], "no BUNDLE given"),
    ],
)
def test_run_refuses_a_bad_server_url_or_no_model_at_all(tmp_path, args, expected):
    from click.testing import CliRunner

    from edgekit.cli.main import cli

    result = CliRunner().invoke(cli, ["run", *args, "--source", str(tmp_path)])
    assert result.exit_code == 1 and expected in result.output


# --- the server process -------------------------------------------------------------------------------


def test_sigterm_stops_the_server_cleanly(bundle_dir, tmp_path):
    served = Served(bundle_dir, tmp_path / "server.log").start()
    assert served.stop(timeout_s=30) == 0, served.log()
    assert not served.ready()


def test_a_port_in_use_is_refused_in_one_line(server, bundle_dir, tmp_path):
    import subprocess
    import sys

    edgekit = str(Path(sys.executable).with_name("edgekit"))
    result = subprocess.run(
        [edgekit, "serve", str(bundle_dir), "--http-port", str(server.http_port), "--grpc-port", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert f"--http-port {server.http_port} is not free" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_follows_the_metadata_of_a_server_that_names_the_irs_float_input(bundle_dir, kit, tmp_path):
    """A server that names ``input`` FP32 [1, 3, H, W], as OVMS does for the exported repository: the
    client sends RGB floats one frame per call, and the results equal a local run's."""
    from click.testing import CliRunner

    from edgekit.cli.main import cli

    served = Served(bundle_dir, tmp_path / "server.log", "--advertise", "ir").start()
    try:
        meta = grpc.InferenceServerClient(served.grpc).get_model_metadata("edgekit", as_json=True)
        assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": ["1", "3", "64", "64"]}]
        frames = [kit.square_frame() if i % 2 else kit.gray_frame(120 + i) for i in range(6)]
        folder = kit.write_folder(tmp_path / "frames", frames)
        runner = CliRunner()
        args = ["run", "--server", f"http://{served.http}", "--batch", "4", "--source", str(folder)]
        remote = runner.invoke(cli, [*args, "--out", str(tmp_path / "r")])
        assert remote.exit_code == 0, remote.output
    finally:
        assert served.stop() == 0, served.log()
    here = CliRunner().invoke(cli, ["run", str(bundle_dir), "--source", str(folder), "--out", str(tmp_path / "l")])
    assert here.exit_code == 0, here.output
    got, expected = (kit.read_lines(tmp_path / d / "results.jsonl") for d in ("r", "l"))
    assert [(a["index"], a["label"]) for a in got] == [(b["index"], b["label"]) for b in expected]
    assert max(abs(a["score"] - b["score"]) for a, b in zip(got, expected, strict=True)) <= 1e-3
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["batch"] == 1  # the served model takes one frame per call: --batch 4 lowered to it
    assert "client error" not in served.log()
