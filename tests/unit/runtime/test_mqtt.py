"""MQTT sink against a real mosquitto broker on loopback and a real paho-mqtt subscriber (no mocks)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from mqtt_broker import Mosquitto, Received, Subscriber, free_port

from edgekit.errors import ConfigError
from edgekit.runtime.mqtt import MqttSink, MqttTarget, parse_mqtt_url
from edgekit.runtime.result import Box, FrameResult

ACCEPTED = "mqtt://HOST[:PORT][/PREFIX]"
FIELDS = {"stream", "index", "timestamp", "score", "label", "boxes"}
PROMPT_S = 0.2  # longest a publish() may take with the broker down (a blocking one takes seconds)


def frame(index: int, anomalous: bool = False) -> FrameResult:
    boxes = (Box(10, 20, 18, 28, 64, 0.93127),) if anomalous else ()
    return FrameResult(
        index=index,
        timestamp=index / 25,
        score=0.875 if anomalous else 0.125,
        label=anomalous,
        anomaly_map=np.zeros((8, 8), np.float32),
        mask=np.zeros((8, 8), bool),
        boxes=boxes,
        timings_ms={"e2e": 1.5},
        source_hw=(64, 64),
    )


def wait_until(condition: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def indices(messages: list[Received]) -> list[int]:
    return [m.json()["index"] for m in messages]


def balanced(stats: dict) -> bool:
    return stats["published"] == stats["delivered"] + stats["undelivered"] + stats["dropped"]


@pytest.fixture
def closing() -> Iterator[Callable]:
    """Register sinks and subscribers; they are closed at teardown even when the test fails."""
    items: list = []

    def register(item: MqttSink | Subscriber) -> MqttSink | Subscriber:
        items.append(item)
        return item

    yield register
    for item in reversed(items):
        item.close(0.5) if isinstance(item, MqttSink) else item.close()


def connected_sink(url: str, closing: Callable, **kwargs: object) -> MqttSink:
    sink = closing(MqttSink(parse_mqtt_url(url), **kwargs))
    assert sink.wait_connected(5), "the sink did not connect to the broker"
    return sink


# --- URLs and names (no broker) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://broker.local", MqttTarget("broker.local", 1883, "edgekit")),
        ("mqtt://10.0.0.5:1884", MqttTarget("10.0.0.5", 1884, "edgekit")),
        ("mqtt://10.0.0.5:1884/", MqttTarget("10.0.0.5", 1884, "edgekit")),
        ("mqtt://h/plant1/line3", MqttTarget("h", 1883, "plant1/line3")),
        ("MQTT://[::1]:99/cams", MqttTarget("::1", 99, "cams")),
    ],
)
def test_parse_mqtt_url_fills_port_and_prefix(url: str, expected: MqttTarget) -> None:
    assert parse_mqtt_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://broker:1883",
        "mqtts://broker",
        "broker:1883",
        "",
        "mqtt://",
        "mqtt://:1883/edgekit",
        "mqtt://broker:0",
        "mqtt://broker:65536",
        "mqtt://broker:abc",
        "mqtt://broker/plant/#",
        "mqtt://broker/+/line",
        "mqtt://broker/a//b",
        "mqtt://broker/$SYS",
        "mqtt://user:secret@broker",
        "mqtt://broker/x?qos=2",
    ],
)
def test_bad_urls_are_one_line_config_errors(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_mqtt_url(url)
    message = str(caught.value)
    assert "\n" not in message
    assert repr(url) in message
    assert ACCEPTED in message


@pytest.mark.parametrize("name", ["a/b", "#", "cam+1", ""])
def test_stream_names_must_be_one_topic_level(name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        MqttTarget("h").topic(name, "result")
    assert "\n" not in str(caught.value)
    assert repr(name) in str(caught.value)


@pytest.mark.parametrize("kwargs", [{"qos": 0}, {"qos": 3}, {"max_queued": 0}, {"reconnect_delay_s": (2.0, 1.0)}])
def test_bad_sink_settings_are_config_errors(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        MqttSink(MqttTarget("127.0.0.1", free_port()), **kwargs)


def test_no_broker_at_start_costs_the_caller_nothing() -> None:
    sink = MqttSink(MqttTarget("127.0.0.1", free_port()), reconnect_delay_s=(0.1, 0.5))
    start = time.monotonic()
    for i in range(5):
        sink.publish("cam0", frame(i, anomalous=i == 2))
    # publishing only queues: no wait for a connection (paho's connect timeout is seconds). The bound
    # is loose on purpose (shared CI machines); the counters below are the real check.
    assert time.monotonic() - start < 2.0
    sink.close(timeout_s=0.2)
    stats = sink.stats()
    assert stats == {
        "published": 6, "delivered": 0, "undelivered": 6, "dropped": 0, "reconnects": 0, "connected": False,
    }  # fmt: skip


# --- against the broker -------------------------------------------------------------------------


def test_one_result_per_frame_and_anomaly_messages_only_for_anomalous_frames(
    broker: Mosquitto, closing: Callable
) -> None:
    subscriber = closing(Subscriber(broker.port, "plant/line1/#"))
    subscriber.wait_subscribed()
    sink = connected_sink(f"{broker.url}/plant/line1", closing)
    anomalous = {1, 4}
    for i in range(6):
        sink.publish("cam0", frame(i, anomalous=i in anomalous))
    for i in range(3):
        sink.publish("cam1", frame(i))

    subscriber.wait_for(lambda ms: sum(m.topic.endswith(("/result", "/anomaly")) for m in ms) >= 11)
    time.sleep(0.2)  # anything extra (a duplicate, a stray anomaly) would arrive by now
    results = subscriber.on("plant/line1/cam0/result")
    assert indices(results) == list(range(6))
    assert indices(subscriber.on("plant/line1/cam1/result")) == [0, 1, 2]
    anomalies = subscriber.on("plant/line1/cam0/anomaly")
    assert indices(anomalies) == [1, 4]
    assert subscriber.on("plant/line1/cam1/anomaly") == []
    assert [a.payload for a in anomalies] == [results[1].payload, results[4].payload]

    for message in results:
        assert set(message.json()) == FIELDS
        assert not message.retain
    assert results[4].json() == {
        "stream": "cam0",
        "index": 4,
        "timestamp": 0.16,
        "score": 0.875,
        "label": "anomalous",
        "boxes": [{"xyxy": [10, 20, 18, 28], "area": 64, "score": 0.9313}],
    }
    assert results[0].json()["label"] == "normal"
    assert results[0].json()["boxes"] == []

    assert wait_until(lambda: sink.stats()["delivered"] == 11)
    assert sink.stats() == {
        "published": 11, "delivered": 11, "undelivered": 0, "dropped": 0, "reconnects": 0, "connected": True,
    }  # fmt: skip


def test_bad_stream_name_and_publish_after_close_are_refused(broker: Mosquitto, closing: Callable) -> None:
    sink = connected_sink(broker.url, closing)
    with pytest.raises(ConfigError, match="'line/1'"):
        sink.publish("line/1", frame(0))
    assert sink.stats()["published"] == 0
    sink.close(1.0)
    with pytest.raises(RuntimeError, match="closed"):
        sink.publish("cam0", frame(0))


def test_status_is_retained_online_and_a_clean_close_sends_offline(broker: Mosquitto, closing: Callable) -> None:
    sink = connected_sink(broker.url, closing)
    # connects only now, after the fact: the broker hands it the retained status
    watcher = closing(Subscriber(broker.port, "edgekit/status"))
    got = watcher.wait_for(lambda ms: len(ms) >= 1)
    assert [(m.payload, m.retain) for m in got] == [(b"online", True)]

    sink.close(timeout_s=2.0)
    got = watcher.wait_for(lambda ms: len(ms) >= 2)
    time.sleep(0.3)  # a last will (which a clean close must not trigger) would arrive by now
    assert [m.payload for m in watcher.on("edgekit/status")] == [b"online", b"offline"]

    late = closing(Subscriber(broker.port, "edgekit/status"))
    got = late.wait_for(lambda ms: len(ms) >= 1)
    assert [(m.payload, m.retain) for m in got] == [(b"offline", True)]


PUBLISHER = """
import sys, time
from edgekit.runtime.mqtt import MqttSink, parse_mqtt_url
sink = MqttSink(parse_mqtt_url(sys.argv[1]))
print("connected" if sink.wait_connected(10) else "not connected", flush=True)
time.sleep(60)
"""


def test_last_will_says_offline_when_the_publisher_is_killed(broker: Mosquitto, closing: Callable) -> None:
    watcher = closing(Subscriber(broker.port, "edgekit/status"))
    watcher.wait_subscribed()
    publisher = subprocess.Popen([sys.executable, "-c", PUBLISHER, broker.url], stdout=subprocess.PIPE, text=True)
    try:
        assert publisher.stdout is not None
        assert publisher.stdout.readline().strip() == "connected"
        assert [m.payload for m in watcher.wait_for(lambda ms: len(ms) >= 1)] == [b"online"]
        publisher.kill()  # SIGKILL: no close(), no DISCONNECT; the kernel just closes the socket
        publisher.wait(timeout=5)
        got = watcher.wait_for(lambda ms: len(ms) >= 2, timeout_s=5.0)
        assert [m.payload for m in got] == [b"online", b"offline"]
    finally:
        publisher.kill()
        publisher.wait(timeout=5)

    late = closing(Subscriber(broker.port, "edgekit/status"))
    got = late.wait_for(lambda ms: len(ms) >= 1)
    assert [(m.payload, m.retain) for m in got] == [(b"offline", True)]


def test_broker_killed_and_restarted_publish_stays_prompt_and_the_sink_reconnects(
    broker: Mosquitto, closing: Callable
) -> None:
    subscriber = closing(Subscriber(broker.port, "edgekit/cam0/result"))
    subscriber.wait_subscribed()
    sink = connected_sink(broker.url, closing, reconnect_delay_s=(0.1, 0.5))
    for i in range(10):
        sink.publish("cam0", frame(i))
    assert indices(subscriber.wait_for(lambda ms: len(ms) >= 10)) == list(range(10))

    broker.kill()
    slowest = 0.0
    for i in range(10, 60):  # more than paho's window of 20 in flight: the rest wait in its queue
        start = time.monotonic()
        sink.publish("cam0", frame(i))
        slowest = max(slowest, time.monotonic() - start)
        time.sleep(0.005)
    assert slowest < PROMPT_S, f"publish() blocked for {slowest:.3f} s while the broker was down"
    assert wait_until(lambda: not sink.stats()["connected"])
    stats = sink.stats()
    assert stats["delivered"] == 10
    assert stats["undelivered"] == 50
    assert balanced(stats)

    broker.start()
    assert wait_until(lambda: sink.stats()["connected"]), "the sink did not reconnect"
    subscriber.wait_subscribed(times=2)
    # what waited during the outage is resent and acknowledged after the reconnect
    assert wait_until(lambda: sink.stats()["delivered"] == 60)
    for i in range(60, 70):
        sink.publish("cam0", frame(i))
    got = subscriber.wait_for(lambda ms: set(range(60, 70)) <= set(indices(ms)))
    assert indices(got)[-10:] == list(range(60, 70))

    sink.close(timeout_s=2.0)
    assert sink.stats() == {
        "published": 70, "delivered": 70, "undelivered": 0, "dropped": 0, "reconnects": 1, "connected": False,
    }  # fmt: skip


def test_broker_gone_for_good_counts_undelivered_and_dropped(broker: Mosquitto, closing: Callable) -> None:
    sink = connected_sink(broker.url, closing, max_queued=10, reconnect_delay_s=(0.1, 0.5))
    for i in range(5):
        sink.publish("cam0", frame(i))
    assert wait_until(lambda: sink.stats()["delivered"] == 5)

    broker.kill()
    start = time.monotonic()
    for i in range(5, 30):
        sink.publish("cam0", frame(i))
    assert time.monotonic() - start < PROMPT_S * 5
    start = time.monotonic()
    sink.close(timeout_s=0.5)
    assert time.monotonic() - start < 2.5, "close() is not bounded with the broker down"
    stats = sink.stats()
    # 10 waited for an acknowledgement that never came; the 15 beyond max_queued were dropped at once
    assert stats == {
        "published": 30, "delivered": 5, "undelivered": 10, "dropped": 15, "reconnects": 0, "connected": False,
    }  # fmt: skip
    assert balanced(stats)


def test_publish_from_many_threads_keeps_each_stream_whole_and_in_order(broker: Mosquitto, closing: Callable) -> None:
    subscriber = closing(Subscriber(broker.port, "edgekit/+/result"))
    subscriber.wait_subscribed()
    sink = connected_sink(broker.url, closing)
    frames, streams = 50, [f"s{k}" for k in range(4)]

    def produce(name: str) -> None:
        for i in range(frames):
            sink.publish(name, frame(i))

    threads = [threading.Thread(target=produce, args=(name,)) for name in streams]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    subscriber.wait_for(lambda ms: len(ms) >= frames * len(streams))
    for name in streams:
        messages = subscriber.on(f"edgekit/{name}/result")
        assert indices(messages) == list(range(frames))
        assert {json.loads(m.payload)["stream"] for m in messages} == {name}
    sink.close(timeout_s=2.0)
    stats = sink.stats()
    assert (stats["published"], stats["delivered"], stats["undelivered"]) == (200, 200, 0)
