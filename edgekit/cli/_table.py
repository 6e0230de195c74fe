"""Plain-text tables for command output."""

from __future__ import annotations

from collections.abc import Sequence


def format_rows(rows: Sequence[Sequence[object]]) -> str:
    """Render rows (header first) with columns padded to their widest cell.

    Args:
        rows: The header row followed by data rows; cells are converted with ``str``.

    Returns:
        The table without a trailing newline.
    """
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells if i < len(row)) for i in range(max(map(len, cells)))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)).rstrip() for row in cells)


def fmt(value: float | None, digits: int = 3) -> str:
    """A metric value for a table: fixed digits, ``-`` for missing or NaN."""
    if value is None or value != value:  # NaN
        return "-"
    return f"{value:.{digits}f}"
