"""A real MQTT broker (Debian's mosquitto) on a free loopback port, and a real subscriber (paho-mqtt).

Used by ``test_mqtt.py``; nothing here is a mock. The broker can be killed (SIGKILL) and started
again on the same port to test reconnects.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


def find_mosquitto() -> str | None:
    """The mosquitto binary (Debian puts it in /usr/sbin, often not on a user's PATH), or None."""
    found = shutil.which("mosquitto")
    return found or next((p for p in MOSQUITTO_PATHS if Path(p).is_file()), None)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    """True where something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Mosquitto:
    """One mosquitto process on ``127.0.0.1:port`` (anonymous, no persistence), logging to a file.

    Args:
        binary: Path of the mosquitto executable.
        folder: Where the config and the log go.
    """

    def __init__(self, binary: str, folder: Path) -> None:
        self.binary = binary
        self.port = free_port()
        self.config = folder / "mosquitto.conf"
        self.log = folder / "mosquitto.log"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n"
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``mqtt://127.0.0.1:PORT``."""
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 5.0) -> None:
        """Start the broker and wait until it accepts connections."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([self.binary, "-c", str(self.config)], stdout=log, stderr=log)
        deadline = time.monotonic() + timeout_s
        while not port_open(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"mosquitto did not start on port {self.port}: {self.log.read_text()[-2000:]}")
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL the broker (no goodbye to its clients) and wait until the port is closed."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=5)
        self.process = None

    def stop(self) -> None:
        """Terminate the broker (SIGTERM, then SIGKILL after 3 s)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None


@dataclass(frozen=True)
class Received:
    """One message as the subscriber saw it."""

    topic: str
    payload: bytes
    retain: bool

    def json(self) -> Any:
        """The payload as JSON."""
        return json.loads(self.payload)


class Subscriber:
    """A paho-mqtt client that subscribes to ``topic`` (again after every reconnect) and keeps what it gets.

    Args:
        port: The broker's port on 127.0.0.1.
        topic: Topic filter, e.g. ``edgekit/#``.
    """

    def __init__(self, port: int, topic: str) -> None:
        import paho.mqtt.client as mqtt

        self.topic = topic
        self.messages: list[Received] = []
        self._changed = threading.Condition()
        self._subscriptions = 0
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.on_connect = lambda client, *_: client.subscribe(topic, qos=1)
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.connect_async("127.0.0.1", port, keepalive=10)
        self.client.loop_start()

    def _on_subscribe(self, *_: Any) -> None:
        with self._changed:
            self._subscriptions += 1
            self._changed.notify_all()

    def _on_message(self, _client: Any, _userdata: Any, message: Any) -> None:
        with self._changed:
            self.messages.append(Received(message.topic, bytes(message.payload), bool(message.retain)))
            self._changed.notify_all()

    def wait_subscribed(self, times: int = 1, timeout_s: float = 5.0) -> None:
        """Wait until the broker has confirmed ``times`` subscriptions (one per connection)."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._subscriptions >= times, timeout_s):
                raise AssertionError(f"subscriber not subscribed {times} time(s) within {timeout_s} s")

    def wait_for(self, done: Callable[[list[Received]], bool], timeout_s: float = 5.0) -> list[Received]:
        """Wait until ``done(messages)`` holds; return a copy of the messages either way."""
        with self._changed:
            self._changed.wait_for(lambda: done(self.messages), timeout_s)
            return list(self.messages)

    def on(self, topic: str) -> list[Received]:
        """The messages received so far on one topic."""
        with self._changed:
            return [m for m in self.messages if m.topic == topic]

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()
