"""The tile grid: where each tile position sits in a frame.

Layout, written down once for all of edgekit:

* A frame is ``uint8 [H, W, C]`` (OpenCV's HWC, BGR in the runtime).
* Tile positions are numbered row-major: position ``p`` is grid row ``p // n_cols``, column
  ``p % n_cols``. A tile batch is ``[N, T_h, T_w, C]`` in that order; tile maps are ``[N, t_h, t_w]``.
* Along each axis tiles start at ``0, s, 2s, ...`` while they fit. Where ``image - tile`` is not a
  multiple of the stride, one more tile is placed flush with the far border (``start = image -
  tile``) instead of padding the frame: anomalib's zero padding paints fake borders that an anomaly
  model flags, while a snapped tile sees only real pixels (it overlaps its neighbour a little more).

A :class:`TileGrid` is frozen and keeps no state between tiling and untiling, so one grid serves
any number of streams and threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from edgekit.errors import ConfigError

HW = tuple[int, int]


def _as_hw(name: str, value: Any) -> HW:
    """Normalize an int or an (h, w) pair to a tuple of two positive ints."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        pair = (int(value), int(value))
    elif (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)
    ):
        pair = (int(value[0]), int(value[1]))
    else:
        msg = f"{name} must be an int or a (height, width) pair of ints, got {value!r}"
        raise ConfigError(msg)
    if min(pair) <= 0:
        msg = f"{name} must be positive, got {pair}"
        raise ConfigError(msg)
    return pair


def parse_size(text: str | int, name: str = "size") -> int | HW:
    """A size as a user writes it: ``N`` (N x N) or ``WxH`` (width first, as cameras state resolutions).

    Args:
        text: ``"512"``, ``"2448x2048"`` or an int.
        name: The option's name, for the error.

    Returns:
        ``N``, or ``(H, W)`` for a ``WxH`` pair (edgekit's sizes are height first).

    Raises:
        ConfigError: Anything else, or a size that is not positive.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        value: int | HW = text
    else:
        parts = str(text).strip().lower().split("x")
        if not 1 <= len(parts) <= 2 or not all(p.strip().isdigit() for p in parts):
            msg = f"{name} {text!r} is not accepted; accepted: N (N x N pixels) or WxH, e.g. 512 or 2448x2048"
            raise ConfigError(msg)
        numbers = [int(p) for p in parts]
        value = numbers[0] if len(numbers) == 1 else (numbers[1], numbers[0])
    if min([value] if isinstance(value, int) else value) <= 0:
        msg = f"{name} {text!r} is out of range; accepted: positive pixels"
        raise ConfigError(msg)
    return value


def size_text(hw: HW) -> str:
    """``N`` for a square size, ``WxH`` otherwise (the form :func:`parse_size` reads)."""
    h, w = hw
    return str(h) if h == w else f"{w}x{h}"


def axis_starts(size: int, tile: int, stride: int) -> tuple[int, ...]:
    """Tile start offsets along one axis, with the last tile snapped to the far border.

    Args:
        size: Length of the axis in pixels.
        tile: Tile length along the axis.
        stride: Step between consecutive tile starts.

    Returns:
        Sorted, unique start offsets; the last one is always ``size - tile``.
    """
    starts = list(range(0, size - tile + 1, stride))
    if starts[-1] != size - tile:
        starts.append(size - tile)
    return tuple(starts)


@dataclass(frozen=True)
class TileGrid:
    """Positions of overlapping tiles in a frame.

    Args:
        image_hw: Frame size (height, width) in pixels; an int means square.
        tile_hw: Tile size (height, width); must fit inside the frame.
        stride_hw: Step between tile starts (height, width); at most the tile size, so that
            every pixel is covered. Defaults to ``tile_hw`` (no overlap).

    Raises:
        ConfigError: If a size is not positive, a tile is larger than the frame, or the stride
            is larger than the tile.
    """

    image_hw: HW
    tile_hw: HW
    stride_hw: HW | None = None

    def __post_init__(self) -> None:
        image_hw = _as_hw("image_hw", self.image_hw)
        tile_hw = _as_hw("tile_hw", self.tile_hw)
        stride_hw = _as_hw("stride_hw", self.stride_hw if self.stride_hw is not None else tile_hw)
        if tile_hw[0] > image_hw[0] or tile_hw[1] > image_hw[1]:
            msg = (
                f"tile_hw {tile_hw} is larger than image_hw {image_hw}: "
                "tiles must fit inside the image (use a smaller tile or a larger image size)"
            )
            raise ConfigError(msg)
        if stride_hw[0] > tile_hw[0] or stride_hw[1] > tile_hw[1]:
            msg = (
                f"stride_hw {stride_hw} is larger than tile_hw {tile_hw}: "
                "a stride larger than the tile leaves pixels uncovered; accepted: 1 <= stride <= tile"
            )
            raise ConfigError(msg)
        object.__setattr__(self, "image_hw", image_hw)
        object.__setattr__(self, "tile_hw", tile_hw)
        object.__setattr__(self, "stride_hw", stride_hw)

    # --- geometry -------------------------------------------------------------------------

    @cached_property
    def row_starts(self) -> tuple[int, ...]:
        """Top offsets of the tile rows."""
        return axis_starts(self.image_hw[0], self.tile_hw[0], self.stride_hw[0])  # type: ignore[index]

    @cached_property
    def col_starts(self) -> tuple[int, ...]:
        """Left offsets of the tile columns."""
        return axis_starts(self.image_hw[1], self.tile_hw[1], self.stride_hw[1])  # type: ignore[index]

    @property
    def grid_hw(self) -> HW:
        """Number of tile rows and columns."""
        return len(self.row_starts), len(self.col_starts)

    @property
    def n_tiles(self) -> int:
        """Number of tile positions ``N``."""
        rows, cols = self.grid_hw
        return rows * cols

    @cached_property
    def boxes(self) -> tuple[tuple[int, int, int, int], ...]:
        """Box ``(y0, x0, y1, x1)`` of every position, row-major (end exclusive)."""
        th, tw = self.tile_hw
        return tuple((y, x, y + th, x + tw) for y in self.row_starts for x in self.col_starts)

    @property
    def is_regular(self) -> bool:
        """True where every step is the stride (no snapped border tile): tiles are strided views."""
        sh, sw = self.stride_hw  # type: ignore[misc]
        return all(b - a == sh for a, b in zip(self.row_starts, self.row_starts[1:], strict=False)) and all(
            b - a == sw for a, b in zip(self.col_starts, self.col_starts[1:], strict=False)
        )

    @cached_property
    def coverage(self) -> np.ndarray:
        """How many tiles cover each pixel, ``float32 [H, W]`` (read-only)."""
        count = np.zeros(self.image_hw, dtype=np.float32)
        for y0, x0, y1, x1 in self.boxes:
            count[y0:y1, x0:x1] += 1.0
        count.setflags(write=False)
        return count

    # --- serialization ---------------------------------------------------------------------

    def downscaled(self, factor: int) -> TileGrid | None:
        """The same grid on a map ``factor`` times smaller (a feature map), or None where it does not exist.

        It exists when every tile edge falls on a map pixel edge: image, tile and stride sizes all
        divisible by ``factor``, and the snapped last tile too.

        Args:
            factor: Downscaling factor (>= 1).

        Returns:
            The grid whose boxes are this grid's boxes divided by ``factor``, or None.
        """
        sizes = (*self.image_hw, *self.tile_hw, *self.stride_hw)
        if factor < 1 or any(v % factor for v in sizes):
            return None
        small = TileGrid(
            (self.image_hw[0] // factor, self.image_hw[1] // factor),
            (self.tile_hw[0] // factor, self.tile_hw[1] // factor),
            (self.stride_hw[0] // factor, self.stride_hw[1] // factor),
        )
        if small.boxes != tuple(tuple(v // factor for v in box) for box in self.boxes):
            return None
        return small

    def to_dict(self) -> dict[str, list[int]]:
        """JSON-ready description of the grid."""
        return {
            "image_hw": list(self.image_hw),
            "tile_hw": list(self.tile_hw),
            "stride_hw": list(self.stride_hw),  # type: ignore[arg-type]
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TileGrid:
        """Rebuild a grid from :meth:`to_dict` output (validated like the constructor).

        Args:
            data: Mapping with ``image_hw``, ``tile_hw`` and ``stride_hw``.

        Returns:
            The grid.

        Raises:
            ConfigError: If a key is missing or a value is invalid.
        """
        missing = [k for k in ("image_hw", "tile_hw", "stride_hw") if k not in data]
        if missing:
            msg = f"tile grid description lacks {missing}; expected keys image_hw, tile_hw, stride_hw"
            raise ConfigError(msg)
        return cls(
            image_hw=tuple(data["image_hw"]),  # type: ignore[arg-type]
            tile_hw=tuple(data["tile_hw"]),  # type: ignore[arg-type]
            stride_hw=tuple(data["stride_hw"]),  # type: ignore[arg-type]
        )

    def __str__(self) -> str:
        rows, cols = self.grid_hw
        return (
            f"{rows}x{cols} tiles of {self.tile_hw[0]}x{self.tile_hw[1]} "
            f"(stride {self.stride_hw[0]}x{self.stride_hw[1]}) on {self.image_hw[0]}x{self.image_hw[1]}"  # type: ignore[index]
        )
