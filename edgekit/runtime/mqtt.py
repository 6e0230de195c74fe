"""Results on MQTT: one JSON message per frame, and a retained availability topic with a last will.

Topics under a prefix (default ``edgekit``), after Frigate's convention:

- ``PREFIX/status``: ``online`` (retained, sent on every connect) and ``offline`` (retained: the broker
  sends it as the last will when the connection dies, the sink sends it itself on :meth:`MqttSink.close`).
- ``PREFIX/NAME/result``: one JSON object per frame of stream NAME (stream, index, timestamp, score,
  label, boxes; no arrays), QoS 1.
- ``PREFIX/NAME/anomaly``: the same object again, for anomalous frames only.

The broker going away never stops or slows inference: :meth:`MqttSink.publish` only hands the message to
paho-mqtt, whose network thread reconnects with backoff and resends whatever the broker has not
acknowledged. At most ``max_queued`` messages wait for an acknowledgement; past that, new ones are
dropped at once and counted.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from edgekit._extras import require
from edgekit.errors import ConfigError

if TYPE_CHECKING:
    from edgekit.runtime.result import FrameResult

logger = logging.getLogger(__name__)

DEFAULT_PORT = 1883
DEFAULT_PREFIX = "edgekit"
ACCEPTED = "mqtt://HOST[:PORT][/PREFIX] (port 1-65535, default 1883; prefix default 'edgekit', without '#' or '+')"
_TOPIC_FORBIDDEN = ("#", "+", "\x00")


@dataclass(frozen=True)
class MqttTarget:
    """Where results go: a broker and the topic prefix.

    Attributes:
        host: Broker host name or address.
        port: Broker TCP port.
        prefix: Topic prefix, one or more topic levels (``edgekit``, ``plant1/line3``).
    """

    host: str
    port: int = DEFAULT_PORT
    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        problem = _target_problem(self.host, self.port, self.prefix)
        if problem:
            msg = f"MQTT target {f'mqtt://{self.host}:{self.port}/{self.prefix}'!r} has {problem}: use {ACCEPTED}"
            raise ConfigError(msg)

    @property
    def status_topic(self) -> str:
        """The retained availability topic (``online`` / ``offline``)."""
        return f"{self.prefix}/status"

    def topic(self, stream_name: str, kind: str) -> str:
        """The topic of one stream's messages.

        Args:
            stream_name: The stream's NAME, one topic level.
            kind: ``result`` or ``anomaly``.

        Returns:
            ``PREFIX/NAME/KIND``.

        Raises:
            ConfigError: If the name is empty or holds ``#``, ``+`` or ``/``.
        """
        if not stream_name or any(c in stream_name for c in (*_TOPIC_FORBIDDEN, "/")):
            msg = (
                f"stream name {stream_name!r} is not a valid MQTT topic level: use a non-empty name "
                "without '/', '#' or '+', e.g. --source cam1=rtsp://..."
            )
            raise ConfigError(msg)
        return f"{self.prefix}/{stream_name}/{kind}"


def parse_mqtt_url(url: str) -> MqttTarget:
    """Read ``mqtt://HOST[:PORT][/PREFIX]``.

    Args:
        url: The URL, e.g. ``mqtt://broker.local`` or ``mqtt://10.0.0.5:1884/plant1/line3``.

    Returns:
        The target (port 1883 and prefix ``edgekit`` where the URL leaves them out).

    Raises:
        ConfigError: For another scheme, a bad port, an empty host, credentials, a query, or a
            prefix holding ``#`` or ``+`` (one line naming the value and what is accepted).
    """
    parts = urlsplit(url.strip())
    port = None
    problem = ""
    if parts.scheme.lower() != "mqtt":
        problem = f"scheme {parts.scheme or 'none'!r}"
    elif "#" in url:  # urlsplit would take it for a fragment
        problem = "a '#' (an MQTT wildcard, not accepted in the prefix)"
    elif parts.username is not None:
        problem = "credentials (not supported)"
    elif "?" in url:
        problem = f"a query {'?' + parts.query!r}"
    else:
        try:
            port = parts.port
        except ValueError:
            problem = f"port {parts.netloc.rpartition(':')[2]!r}"
    host = parts.hostname or ""
    port = DEFAULT_PORT if port is None else port
    prefix = unquote(parts.path).strip("/") or DEFAULT_PREFIX
    problem = problem or _target_problem(host, port, prefix)
    if problem:
        msg = f"MQTT URL {url!r} has {problem}: use {ACCEPTED}"
        raise ConfigError(msg)
    return MqttTarget(host, port, prefix)


def _target_problem(host: str, port: int, prefix: str) -> str:
    """What is wrong with a target, or ``""``."""
    if not host:
        return "an empty host"
    if not 1 <= port <= 65535:
        return f"port {port}"
    if any(c in prefix for c in _TOPIC_FORBIDDEN) or "" in prefix.split("/") or prefix.startswith("$"):
        return f"topic prefix {prefix!r} (an empty level, '#', '+' or a leading '$')"
    return ""


def frame_message(stream_name: str, result: FrameResult) -> dict[str, Any]:
    """The JSON object sent for one frame (numbers only; a non-finite score becomes ``null``).

    Args:
        stream_name: The stream's NAME.
        result: The frame's result.

    Returns:
        ``{"stream", "index", "timestamp", "score", "label", "boxes"}``.
    """
    score = float(result.score)
    return {
        "stream": stream_name,
        "index": int(result.index),
        "timestamp": round(float(result.timestamp), 6),
        "score": round(score, 5) if math.isfinite(score) else None,
        "label": "anomalous" if result.label else "normal",
        "boxes": [box.to_dict() for box in result.boxes],
    }


class MqttSink:
    """Publishes frame results to an MQTT broker without ever holding up the caller.

    Connects in the background (paho-mqtt's network thread), so a broker that is down at start or
    goes away later costs nothing but the messages it misses. Counts, in messages (a result and its
    anomaly copy are two): ``published`` handed to :meth:`publish`; ``delivered`` acknowledged by the
    broker; ``dropped`` refused at once because ``max_queued`` were already waiting; ``undelivered``
    neither (still waiting while the sink runs, lost for good after :meth:`close`). At every moment
    ``published == delivered + undelivered + dropped``.

    Args:
        target: Broker and topic prefix (see :func:`parse_mqtt_url`).
        client_id: MQTT client id; a random ``edgekit-...`` id by default (two clients with one id
            throw each other off the broker).
        qos: 1 (at least once, the default) or 2. QoS 0 is refused: it loses messages silently.
        max_queued: Most messages waiting for the broker's acknowledgement before new ones are dropped.
        keepalive_s: MQTT keepalive; a silently dead link is noticed after about 1.5 times this.
        reconnect_delay_s: First and longest wait between reconnection attempts (doubling between).

    Raises:
        ConfigError: For a QoS or a limit out of range.
        MissingExtraError: Where paho-mqtt is not installed (the ``mqtt`` extra).
    """

    def __init__(
        self,
        target: MqttTarget,
        client_id: str | None = None,
        qos: int = 1,
        max_queued: int = 1000,
        keepalive_s: int = 30,
        reconnect_delay_s: tuple[float, float] = (0.5, 30.0),
    ) -> None:
        if qos not in (1, 2):
            msg = f"MQTT qos {qos!r} is not accepted: use 1 (at least once) or 2 (exactly once)"
            raise ConfigError(msg)
        if max_queued < 1 or keepalive_s < 1 or not 0 < reconnect_delay_s[0] <= reconnect_delay_s[1]:
            msg = (
                f"MQTT limits max_queued={max_queued}, keepalive_s={keepalive_s}, reconnect_delay_s="
                f"{reconnect_delay_s}: use max_queued >= 1, keepalive_s >= 1, 0 < first delay <= longest"
            )
            raise ConfigError(msg)
        mqtt = require("paho.mqtt.client", "mqtt")
        self.target = target
        self.qos = qos
        self.max_queued = max_queued
        self._queue_full = mqtt.MQTTErrorCode.MQTT_ERR_QUEUE_SIZE
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        # mid -> "result", "online" or "offline", until the broker acknowledges it. An acknowledgement
        # can come back before publish() has recorded the mid: those wait in _early.
        self._pending: dict[int, str] = {}
        self._early: set[int] = set()
        self._counts = {"published": 0, "delivered": 0, "undelivered": 0, "dropped": 0, "reconnects": 0}
        self._connects = 0
        self._connected = False
        self._announced = False  # the broker has acknowledged this connection's "online"
        self._closing = False
        self._closed = False
        self._warned = False

        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id or f"edgekit-{uuid.uuid4().hex[:12]}",
            protocol=mqtt.MQTTv311,
        )
        client.enable_logger(logger)
        client.suppress_exceptions = True  # a bug in a callback is logged, never kills the network thread
        client.max_queued_messages_set(0)  # the bound is ours (results only), so status messages always fit
        client.reconnect_delay_set(*reconnect_delay_s)
        client.will_set(target.status_topic, "offline", qos=qos, retain=True)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        self._client = client
        client.connect_async(target.host, target.port, keepalive=keepalive_s)
        client.loop_start()

    # --- the caller's side ------------------------------------------------------------------------

    def publish(self, stream_name: str, result: FrameResult) -> None:
        """Queue one frame's message (and its anomaly copy); returns at once, connected or not.

        Args:
            stream_name: The stream's NAME (one topic level).
            result: The frame's result.

        Raises:
            ConfigError: If the stream name is not a valid topic level.
            RuntimeError: If the sink is closed.
        """
        topics = [self.target.topic(stream_name, "result")]
        if result.label:
            topics.append(self.target.topic(stream_name, "anomaly"))
        payload = json.dumps(frame_message(stream_name, result), separators=(",", ":"))
        for topic in topics:
            self._send(topic, payload)

    def _send(self, topic: str, payload: str) -> None:
        with self._lock:
            if self._closing:
                msg = f"MqttSink for {self.target} is closed: publish before close()"
                raise RuntimeError(msg)
            self._counts["published"] += 1
            if self._counts["undelivered"] >= self.max_queued:
                self._counts["dropped"] += 1
                return
            self._counts["undelivered"] += 1  # reserved before paho sees it, so the bound is exact
        # Never call paho while holding our lock: paho calls _on_publish holding its own.
        info = self._client.publish(topic, payload, qos=self.qos, retain=False)
        if info.rc == self._queue_full:  # only on a message-id collision, since paho's own queue is unbounded
            with self._lock:
                self._counts["undelivered"] -= 1
                self._counts["dropped"] += 1
            return
        self._track(info.mid, "result")

    def _track(self, mid: int, kind: str) -> None:
        with self._lock:
            if mid in self._early:
                self._early.discard(mid)
                self._acked(kind)
            else:
                self._pending[mid] = kind

    def _acked(self, kind: str) -> None:
        if kind == "result" and not self._closed:
            self._counts["undelivered"] -= 1
            self._counts["delivered"] += 1
        elif kind == "online":
            self._announced = self._connected
        self._changed.notify_all()

    def wait_connected(self, timeout_s: float) -> bool:
        """Wait until the broker has accepted the connection and acknowledged the retained ``online``.

        Args:
            timeout_s: Longest wait in seconds.

        Returns:
            True if connected and announced.
        """
        with self._changed:
            return self._changed.wait_for(lambda: self._announced, timeout_s)

    def stats(self) -> dict[str, Any]:
        """Message counts (see the class) and the connection state.

        Returns:
            ``published``, ``delivered``, ``undelivered``, ``dropped`` (messages), ``reconnects``
            (connections made after the first) and ``connected``.
        """
        with self._lock:
            return {**self._counts, "connected": self._connected}

    def close(self, timeout_s: float = 5.0) -> None:
        """Send the retained ``offline``, wait up to ``timeout_s`` for acknowledgements, disconnect.

        Returns within about ``timeout_s`` plus one second, broker or no broker. Whatever the broker
        has not acknowledged by then counts as ``undelivered``. Closing twice does nothing.

        Args:
            timeout_s: Longest wait for the broker's acknowledgements, in seconds.
        """
        with self._lock:
            if self._closing:
                return
            self._closing = True
        deadline = time.monotonic() + timeout_s
        info = self._client.publish(self.target.status_topic, "offline", qos=self.qos, retain=True)
        self._track(info.mid, "offline")
        with self._changed:
            self._changed.wait_for(lambda: not self._pending, max(0.0, deadline - time.monotonic()))
        self._client.disconnect()
        # loop_stop() joins paho's thread without a bound; a connection attempt in progress (up to its
        # 5 s connect timeout) must not hold up the caller, so join from a helper thread with one.
        stopper = threading.Thread(target=self._client.loop_stop, name="mqtt-close", daemon=True)
        stopper.start()
        stopper.join(max(1.0, deadline + 1.0 - time.monotonic()))
        with self._lock:
            self._closed = True  # the counts are final: a late acknowledgement no longer moves them
            self._connected = self._announced = False
        counts = self.stats()
        if counts["undelivered"] or counts["dropped"]:
            logger.warning("MQTT %s: %s", self.target, counts)

    # --- paho's network thread --------------------------------------------------------------------

    def _on_connect(self, client: Any, _userdata: Any, _flags: Any, reason: Any, _properties: Any) -> None:
        if reason.is_failure:
            logger.warning("MQTT broker %s:%d refused the connection: %s", self.target.host, self.target.port, reason)
            return
        with self._lock:
            self._connects += 1
            self._counts["reconnects"] = self._connects - 1
            self._connected = True
            self._warned = False
            closing = self._closing
            self._changed.notify_all()
        logger.info("MQTT connected to %s:%d", self.target.host, self.target.port)
        if not closing:  # a reconnect racing close() must not undo its "offline"
            info = client.publish(self.target.status_topic, "online", qos=self.qos, retain=True)
            self._track(info.mid, "online")

    def _on_connect_fail(self, _client: Any, _userdata: Any) -> None:
        with self._lock:
            warn, self._warned = not self._warned, True
        if warn:  # once per outage, not once per attempt
            logger.warning("MQTT broker %s:%d unreachable: retrying with backoff", self.target.host, self.target.port)

    def _on_disconnect(self, _client: Any, _userdata: Any, _flags: Any, reason: Any, _properties: Any) -> None:
        with self._lock:
            was, self._connected, self._announced = self._connected, False, False
            closing = self._closing
        if was and not closing:
            logger.warning(
                "MQTT broker %s:%d lost (%s): reconnecting; up to %d messages wait meanwhile",
                self.target.host,
                self.target.port,
                reason,
                self.max_queued,
            )

    def _on_publish(self, _client: Any, _userdata: Any, mid: int, _reason: Any, _properties: Any) -> None:
        with self._lock:
            kind = self._pending.pop(mid, None)
            if kind is None:
                self._early.add(mid)
            else:
                self._acked(kind)
