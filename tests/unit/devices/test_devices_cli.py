import json

from click.testing import CliRunner

from edgekit.cli.devices import command, format_table
from edgekit.cli.main import cli
from edgekit.devices import discover


def test_json_lists_the_cpu():
    result = CliRunner().invoke(command, ["--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert isinstance(rows, list)
    cpu = next(row for row in rows if row["name"] == "CPU")
    assert "FP32" in cpu["precisions"]
    assert set(cpu["traits"]) >= {"requires_static_shapes", "preferred_precision", "included_in_auto"}


def test_table_through_the_edgekit_group():
    result = CliRunner().invoke(cli, ["devices"])
    assert result.exit_code == 0, result.output
    header, *rows = result.output.splitlines()
    assert header.split()[:3] == ["name", "type", "full"]
    assert any(row.startswith("CPU ") for row in rows)


def test_json_with_a_fake_machine(fake_core, monkeypatch):
    monkeypatch.setattr("edgekit.devices.discover", lambda: discover(fake_core))
    result = CliRunner().invoke(command, ["--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert list(rows) == ["CPU", "GPU.0", "GPU.1", "NPU"]
    assert rows["NPU"]["traits"]["included_in_auto"] is False
    assert rows["GPU.1"]["device_type"] == "discrete"
    assert rows["GPU.1"]["memory_bytes"] is None


def test_table_with_a_fake_machine(fake_core):
    lines = format_table(discover(fake_core)).splitlines()
    assert len(lines) == 5
    gpu0, gpu1, npu = lines[2], lines[3], lines[4]
    assert gpu0.split()[:2] == ["GPU.0", "integrated"]
    assert gpu0.endswith("4              16.0 GiB")
    assert "discrete" in gpu1 and "FP32,FP16,INT8" in gpu1 and gpu1.endswith("-")
    assert npu.endswith("-              32.0 GiB")
    # columns line up: every cell of a column starts at the same offset
    start = lines[0].index("precisions")
    assert all(
        line[start:].split()[0] in {"precisions", "FP32,INT8", "FP32,FP16,INT8", "FP16,INT8"}
        for line in lines
    )
