"""edgekit demo-data through the real CLI group."""

import json

import pytest
from click.testing import CliRunner

from edgekit.cli import demo_data
from edgekit.cli.main import cli
from edgekit.demo import DemoCategory


def test_writes_and_prints_a_summary(tmp_path):
    result = CliRunner().invoke(
        cli, ["demo-data", str(tmp_path / "d"), "--size", "64", "--category", "coffee"]
    )
    assert result.exit_code == 0, result.output
    assert "coffee" in result.output and "stream.avi" in result.output
    assert (tmp_path / "d" / "demo.json").is_file()
    assert len(list((tmp_path / "d" / "coffee" / "train" / "good").glob("*.png"))) == 60


def test_too_small_size_is_one_line_exit_1(tmp_path):
    result = CliRunner().invoke(cli, ["demo-data", str(tmp_path / "d"), "--size", "32"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: size 32")
    assert "Traceback" not in result.output
    assert not (tmp_path / "d").exists()


def test_cli_category_choices_match_the_api():
    assert tuple(str(c) for c in DemoCategory) == demo_data._CATEGORIES


def test_cli_wide_category_names_match_the_api():
    from edgekit.demo.wide import WideCategory

    assert tuple(str(c) for c in WideCategory) == demo_data._WIDE_CATEGORIES


def test_writes_the_wide_set_and_prints_a_summary(tmp_path):
    out = tmp_path / "w"
    result = CliRunner().invoke(
        cli, ["demo-data", str(out), "--set", "wide", "--size", "128", "--category", "tray", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert "tray" in result.output and "objects" in result.output and "large" in result.output
    assert (out / "wide.json").is_file() and (out / "tray" / "defects.json").is_file()
    assert len(list((out / "tray" / "train" / "good").glob("*.png"))) == 64
    assert len(list((out / "validation" / "tray" / "test" / "good").glob("*.png"))) == 8
    assert not (out / "demo.json").exists()


def test_wide_json_output(tmp_path):
    out = tmp_path / "w"
    result = CliRunner().invoke(
        cli, ["demo-data", str(out), "--set", "wide", "--size", "128", "--category", "logo", "--json"]
    )
    assert result.exit_code == 0, result.output
    content = json.loads(result.output)
    assert content["set"] == "wide" and [c["name"] for c in content["categories"]] == ["logo"]


@pytest.mark.parametrize(
    ("data_set", "accepted"), [("wide", "'grass', 'tissue'"), ("demo", "'gravel', 'brick', 'coffee'")]
)
def test_unknown_category_is_one_line_naming_the_value_and_the_accepted_ones(tmp_path, data_set, accepted):
    result = CliRunner().invoke(
        cli, ["demo-data", str(tmp_path / "d"), "--set", data_set, "--category", "marble"]
    )
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert lines[0].startswith(f"error: unknown {data_set} categories ['marble']; accepted: [")
    assert accepted in lines[0]
    assert not (tmp_path / "d").exists()

