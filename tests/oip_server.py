"""``edgekit serve`` started by a test on loopback: a real process, real ports, stopped with SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Served:
    """``edgekit serve BUNDLE`` on two free ports; ``start`` waits until it is ready.

    Args:
        bundle: The bundle folder.
        log: Where the server's output goes.
        args: More ``edgekit serve`` options.
    """

    def __init__(self, bundle: Path, log: Path, *args: str) -> None:
        self.bundle = bundle
        self.log_path = log
        self.http_port, self.grpc_port = free_port(), free_port()
        while self.grpc_port == self.http_port:
            self.grpc_port = free_port()
        self.args = args
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def http(self) -> str:
        """``host:port`` of the REST server, as tritonclient takes it."""
        return f"127.0.0.1:{self.http_port}"

    @property
    def grpc(self) -> str:
        """``host:port`` of the gRPC server."""
        return f"127.0.0.1:{self.grpc_port}"

    def ready(self) -> bool:
        """The server answers ``GET /v2/health/ready`` with 200."""
        try:
            with urllib.request.urlopen(f"http://{self.http}/v2/health/ready", timeout=2) as answer:
                return answer.status == 200
        except OSError:
            return False

    def start(self, timeout_s: float = 120.0) -> Served:
        """Start the process and wait until it is ready.

        Raises:
            RuntimeError: The server exited or was not ready in time (its log is in the message).
        """
        edgekit = Path(sys.executable).with_name("edgekit")
        command = [str(edgekit), "serve", str(self.bundle), "--http-port", str(self.http_port)]
        command += ["--grpc-port", str(self.grpc_port), *self.args]
        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                msg = f"edgekit serve exited with {self.process.returncode}:\n{self.log()}"
                raise RuntimeError(msg)
            if self.ready():
                return self
            time.sleep(0.2)
        self.stop()
        msg = f"edgekit serve was not ready after {timeout_s} s:\n{self.log()}"
        raise RuntimeError(msg)

    def log(self) -> str:
        """What the server has written so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM, then wait; returns the exit code (SIGKILL and -9 if it would not stop)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return int(self.process.returncode)
