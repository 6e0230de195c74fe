"""The random choices of one wide-set frame, kept apart from painting so a defect can change one.

A :class:`FramePlan` holds everything :meth:`edgekit.demo.wide.scenes.WideScene.paint` needs: the
crop or camera jitter, lighting and sensor noise, and in object scenes one :class:`Pose` per object.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Lighting:
    """Lighting and sensor of one frame.

    Attributes:
        gain_bgr: Per-channel gain (overall gain times colour temperature).
        gamma: Tone curve exponent applied last.
        slope: Strength of a linear illumination gradient across the frame.
        angle: Direction of the gradient, radians.
        noise_yx: Origin of the frame's crop of the scene's noise field.
    """

    gain_bgr: tuple[float, float, float]
    gamma: float
    slope: float
    angle: float
    noise_yx: tuple[int, int]


@dataclass(frozen=True)
class Pose:
    """Where one object of an object scene is in a frame.

    Attributes:
        dy: Shift from its slot, pixels.
        dx: Shift from its slot, pixels.
        angle: Turn, degrees.
        sprite: Which sprite is drawn there (its own, or another one when swapped).
        present: False when the object is missing.
    """

    dy: float
    dx: float
    angle: float
    sprite: int
    present: bool = True


@dataclass(frozen=True)
class FramePlan:
    """Every random choice of one frame.

    Attributes:
        shift_yx: Textures: crop origin; aligned and object scenes: camera jitter, pixels.
        angle: Aligned scenes: camera roll, degrees.
        turns: Textures: quarter turns.
        flip_yx: Textures: mirror vertically / horizontally.
        lighting: Lighting and sensor.
        poses: Object scenes: one pose per slot.
    """

    shift_yx: tuple[float, float]
    angle: float
    turns: int
    flip_yx: tuple[bool, bool]
    lighting: Lighting
    poses: tuple[Pose, ...] = ()
