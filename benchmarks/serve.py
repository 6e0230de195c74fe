"""``edgekit serve`` under 1, 4 and 8 concurrent clients against the in-process runtime, in one run (issue 11).

The same pre-decoded frames everywhere (``build/bench/frames/frames.npy``, the bench's lossless clip):

* ``inprocess``: the bundle compiled here with the THROUGHPUT hint, the device's optimal number of
  requests in flight (the runtime's own inference loop, no decoding): frames/s.
* ``serve bB, K clients over P``: ``edgekit serve --batch B`` in its own process; K client threads,
  each with its own tritonclient client, send one UINT8 frame per request back to back: requests/s
  and per-request latency p50/p99 (each client's first 3 requests excluded), the server's peak RSS
  (VmHWM).

Configurations alternate over ``--reps`` repetitions; medians are reported, and the ratio of the
issue's target (4 clients over gRPC / in-process). Clients and server share this machine's cores.

    .venv/bin/python benchmarks/serve.py --bundle build/bench/bundle_int8 --out build/bench/serve.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from oip_server import Served  # noqa: E402

from edgekit.bench.suite import machine  # noqa: E402


def inprocess(bundle: Path, frames: np.ndarray, seconds: float) -> dict[str, Any]:
    from edgekit.devices import PerformanceHint
    from edgekit.runtime.engine import Engine

    engine = Engine(bundle, "CPU", hint=PerformanceHint.THROUGHPUT)
    done = threading.Semaphore(0)
    count = [0]

    def finished(outputs: Any, _userdata: Any, error: str) -> None:
        assert outputs is not None, error
        count[0] += 1
        done.release()

    jobs = max(2, engine.optimal_requests)
    queue = engine.infer_queue(jobs, finished)
    tensors = [f[None] for f in frames]
    for i in range(jobs):  # warm-up
        queue.start_async(tensors[i % len(tensors)], i)
    queue.wait_all()
    count[0] = 0
    t0 = time.perf_counter()
    i = 0
    while time.perf_counter() - t0 < seconds:
        queue.start_async(tensors[i % len(tensors)], i)
        i += 1
    queue.wait_all()
    wall = time.perf_counter() - t0
    return {"fps": count[0] / wall, "frames": count[0], "jobs": jobs}


def clients(served: Served, frames: np.ndarray, n: int, requests: int, protocol: str) -> dict[str, Any]:
    import tritonclient.grpc as grpc
    import tritonclient.http as http

    module = http if protocol == "http" else grpc
    address = served.http if protocol == "http" else served.grpc
    latencies: list[list[float]] = [[] for _ in range(n)]
    errors: list[str] = []
    barrier = threading.Barrier(n + 1)

    def client(k: int) -> None:
        c = module.InferenceServerClient(address)
        wanted = [module.InferRequestedOutput(o, **({"binary_data": True} if protocol == "http" else {}))
                  for o in ("pred_score", "pred_label", "anomaly_map", "pred_mask")]
        barrier.wait()
        for i in range(requests + 3):
            frame = frames[(i * n + k) % len(frames)][None]
            tensor = module.InferInput("input", list(frame.shape), "UINT8")
            tensor.set_data_from_numpy(frame, **({"binary_data": True} if protocol == "http" else {}))
            t0 = time.perf_counter()
            try:
                c.infer("edgekit", [tensor], outputs=wanted)
            except Exception as error:
                errors.append(str(error))
                continue
            if i >= 3:
                latencies[k].append((time.perf_counter() - t0) * 1000)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    flat = sorted(x for per in latencies for x in per)
    return {
        "requests_per_s": len(flat) / wall,
        "requests": len(flat),
        "errors": len(errors),
        "p50_ms": float(np.percentile(flat, 50)),
        "p99_ms": float(np.percentile(flat, 99)),
    }


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=ROOT / "build/bench/bundle_int8")
    parser.add_argument("--frames", type=Path, default=ROOT / "build/bench/frames/frames.npy")
    parser.add_argument("--count", type=int, default=30, help="distinct frames used")
    parser.add_argument("--requests", type=int, default=40, help="requests per client")
    parser.add_argument("--seconds", type=float, default=10.0, help="in-process measuring time")
    parser.add_argument("--batches", default="1,4")
    parser.add_argument("--clients", default="1,4,8")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "build/bench/serve.json")
    args = parser.parse_args()
    frames = np.load(args.frames)[: args.count]
    batches = [int(b) for b in args.batches.split(",")]
    counts = [int(c) for c in args.clients.split(",")]
    runs: dict[str, list[dict[str, Any]]] = {}
    for rep in range(args.reps):
        runs.setdefault("inprocess", []).append(inprocess(args.bundle, frames, args.seconds))
        for batch in batches:
            log = Path(args.out).with_suffix(f".b{batch}.log")
            log.parent.mkdir(parents=True, exist_ok=True)
            served = Served(args.bundle, log, "--batch", str(batch)).start()
            try:
                for n in counts:
                    for protocol in ("grpc", "http") if n == 4 else ("grpc",):
                        key = f"serve b{batch} {n} clients {protocol}"
                        result = clients(served, frames, n, args.requests, protocol)
                        runs.setdefault(key, []).append(result)
                rss = peak_rss_mb(served.process.pid)
            finally:
                served.stop()
            runs.setdefault(f"serve b{batch} peak RSS", []).append({"peak_rss_mb": rss})
        print(f"rep {rep + 1}/{args.reps} done", file=sys.stderr)
    medians = {
        key: {field: statistics.median(r[field] for r in results) for field in results[0]}
        for key, results in runs.items()
    }
    base = medians["inprocess"]["fps"]
    ratios = {
        key: round(m["requests_per_s"] / base, 3) for key, m in medians.items() if "requests_per_s" in m
    }
    report = {
        "command": " ".join(sys.argv),
        "machine": machine(),
        "bundle": str(args.bundle),
        "medians": medians,
        "ratio_vs_inprocess": ratios,
        "runs": runs,
    }
    args.out.write_text(json.dumps(report, indent=2))
    print(f"in-process: {base:.1f} frames/s")
    print(f"{'configuration':<32} {'req/s':>7} {'x in-proc':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for key, m in medians.items():
        if "requests_per_s" in m:
            print(f"{key:<32} {m['requests_per_s']:7.1f} {ratios[key]:9.3f} {m['p50_ms']:8.1f} {m['p99_ms']:8.1f}")
        elif "peak_rss_mb" in m:
            print(f"{key:<32} peak RSS {m['peak_rss_mb']:.0f} MiB")


if __name__ == "__main__":
    main()
