"""Entry point of the ``edgekit`` command.

Each command lives in its own module of this package and exposes a click command named
``command``; :data:`COMMANDS` registers them. A command parses its options, calls one function of
a stage API and prints the result. User errors (:class:`edgekit.errors.EdgekitError`) become one
line on stderr and exit code 1; click's usage errors exit with 2; anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

import importlib
import logging
import sys
import warnings
from typing import Any

import click

from edgekit import __version__
from edgekit.errors import EdgekitError

# command name -> module in edgekit.cli holding ``command``. Only commands that work are listed.
COMMANDS: dict[str, str] = {
    "demo": "edgekit.cli.demo",
    "bench": "edgekit.cli.bench",
    "demo-data": "edgekit.cli.demo_data",
    "devices": "edgekit.cli.devices",
    "export": "edgekit.cli.export",
    "run": "edgekit.cli.run",
    "serve": "edgekit.cli.serve",
    "evaluate": "edgekit.cli.evaluate",
    "train": "edgekit.cli.train",
}


class _Group(click.Group):
    """A click group that loads commands lazily and turns user errors into one line."""

    def list_commands(self, ctx: click.Context) -> list[str]:  # noqa: ARG002
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:  # noqa: ARG002
        module = COMMANDS.get(cmd_name)
        if module is None:
            return None
        return importlib.import_module(module).command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EdgekitError as error:
            click.echo(f"error: {error}", err=True)
            ctx.exit(error.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgekit")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """Tiled-ensemble visual anomaly detection on Intel edge hardware."""
    level = logging.WARNING - 10 * min(verbose, 2)
    if not verbose:
        # timm and anomalib warn about their own deprecated imports on every start: not the user's concern
        warnings.filterwarnings("ignore", category=FutureWarning)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def main() -> None:
    """Run the CLI (the ``edgekit`` console script)."""
    cli()
