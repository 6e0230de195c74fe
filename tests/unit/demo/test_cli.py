"""edgekit demo-data through the real CLI group."""

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
