"""``edgekit run --source ... --source ... --mqtt URL`` against a real broker started here on loopback.

One result message per frame per stream, the retained status, and a broker killed and restarted
mid-run: inference goes on, every frame is still in results.jsonl, and the report's delivery
counters add up (published == delivered + undelivered + dropped).
"""

from __future__ import annotations

import json

from click.testing import CliRunner
from mqtt_broker import Subscriber


def test_run_publishes_one_message_per_frame_per_stream(bundle_dir, kit, tmp_path, broker):
    from edgekit.cli.main import cli

    videos = [kit.write_video(tmp_path / f"v{i}.avi", kit.sequence(n)) for i, n in enumerate((7, 5))]
    subscriber = Subscriber(broker.port, "plant/#")
    try:
        subscriber.wait_subscribed()
        out = tmp_path / "out"
        args = ["run", str(bundle_dir), "--source", f"a={videos[0]}", "--source", f"b={videos[1]}",
                "--out", str(out), "--mqtt", f"{broker.url}/plant", "--json"]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        messages = subscriber.wait_for(lambda got: sum(m.topic.endswith("/result") for m in got) >= 12)
        for name, n in (("a", 7), ("b", 5)):
            mine = [m.json() for m in messages if m.topic == f"plant/{name}/result"]
            assert [m["index"] for m in mine] == list(range(n))
            assert [m["label"] == "anomalous" for m in mine] == [kit.is_anomalous(i) for i in range(n)]
            anomalies = [m.json()["index"] for m in messages if m.topic == f"plant/{name}/anomaly"]
            assert anomalies == [i for i in range(n) if kit.is_anomalous(i)]
        report = json.loads((out / "report.json").read_text())
        publish = report["publish"]
        anomalous = sum(kit.is_anomalous(i) for i in (*range(7), *range(5)))
        assert publish["published"] == publish["delivered"] == 12 + anomalous
    finally:
        subscriber.close()
    late = Subscriber(broker.port, "plant/status")  # retained: a subscriber arriving afterwards still sees it
    try:
        late.wait_subscribed()
        assert [m.payload for m in late.wait_for(lambda got: len(got) >= 1)] == [b"offline"]  # clean close
    finally:
        late.close()


def test_a_broker_restart_mid_run_never_stops_inference(bundle_dir, kit, tmp_path, broker):
    from edgekit.runtime import run
    from edgekit.runtime.mqtt import MqttSink, parse_mqtt_url

    video = kit.write_video(tmp_path / "v.avi", kit.sequence(40))
    sink = MqttSink(parse_mqtt_url(broker.url))
    assert sink.wait_connected(5)

    def on_result(result, frames, _fps):
        if frames == 10:
            broker.kill()
        if frames == 25:
            broker.start()

    report = run(bundle_dir, str(video), out=tmp_path / "out", publisher=sink, on_result=on_result, jobs=1)
    assert report.frames == 40 and len(kit.read_lines(tmp_path / "out" / "results.jsonl")) == 40
    p = report.publish
    assert p["published"] == p["delivered"] + p["undelivered"] + p["dropped"]
    assert p["published"] == 40 + sum(kit.is_anomalous(i) for i in range(40))
