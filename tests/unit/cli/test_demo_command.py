"""``edgekit demo``: only its fast refusal here.

The full command (demo data -> train -> evaluate -> export -> stream) took about 46 s at
``--size 128`` on a busy 2-core machine before export and streaming joined it, so it is not part
of the default test run; `make demo` exercises it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from click.testing import Result


def test_too_small_size_is_one_error_line_and_trains_nothing(
    edgekit: Callable[[list[object]], Result], tmp_path: Path
) -> None:
    result = edgekit(["demo", tmp_path / "demo", "--size", "32", "--no-progress"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert "demo data" in lines[0]  # the step being run, then its one-line error
    assert [line for line in lines if line.startswith("error:")] == [lines[-1]]
    assert "size 32" in lines[-1] and "accepted" in lines[-1]
    assert not (tmp_path / "demo" / "run").exists()
