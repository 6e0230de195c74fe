"""``edgekit devices``: list the inference devices OpenVINO can use on this machine."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from edgekit.devices import DeviceInfo

_COLUMNS = ("name", "type", "full name", "precisions", "opt. requests", "memory")


def _memory(value: int | None) -> str:
    """Bytes as GiB with one decimal, or ``-``."""
    return "-" if value is None else f"{value / 2**30:.1f} GiB"


def format_table(devices: Sequence[DeviceInfo]) -> str:
    """Render devices as a plain-text table, one row per device.

    Args:
        devices: As returned by :func:`edgekit.devices.discover`.

    Returns:
        The table, header first, columns padded to their widest cell, no trailing newline.
    """
    rows = [
        (
            d.name,
            str(d.device_type),
            d.full_name or "-",
            ",".join(d.precisions) or "-",
            "-" if d.optimal_infer_requests is None else str(d.optimal_infer_requests),
            _memory(d.memory_bytes),
        )
        for d in devices
    ]
    widths = [max(len(row[i]) for row in [_COLUMNS, *rows]) for i in range(len(_COLUMNS))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [_COLUMNS, *rows]
    ]
    return "\n".join(lines)


@click.command("devices")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of devices (stable keys).")
def command(as_json: bool) -> None:
    """List the inference devices OpenVINO can use here (name, type, precisions, memory)."""
    from edgekit.devices import discover

    devices = discover()
    if as_json:
        click.echo(json.dumps([d.to_dict() for d in devices], indent=2))
    else:
        click.echo(format_table(devices))
