"""Defect-free frames of the wide set, drawn in two steps: a plan of every random choice, then paint.

Keeping the choices in a :class:`FramePlan` lets a defect change one of them (an object's pose)
and paint the frame again with everything else, sensor noise included, exactly the same.

- Textures: a crop at a random offset of the photo (short side scaled to ``texture_scale`` frame
  sides), a random quarter turn and flips; gain +-6 %, colour temperature +-2 %, gamma +-5 %, a
  gradient up to 4 %.
- Aligned objects: the same view with up to 3 px of jitter (at 512, scaled with the frame), a roll
  under 0.4 degrees; gain +-8 %, colour temperature +-4 %, gamma +-10 %, a gradient up to 8 %.
- Several objects: the surface with up to 2 px of camera jitter; every object moves by up to 2 px
  and turns by up to 3 degrees on its own; lighting as for aligned objects.

Sensor noise (sigma 1.5 grey levels) is a random crop of a noise field drawn once per scene, which
keeps rendering cheap; frames are uint8 BGR.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import cv2
import numpy as np

from edgekit.demo.scenes import SceneKind, read_photo
from edgekit.demo.wide.catalog import SPECS, CategorySpec, WideCategory
from edgekit.demo.wide.objects import Slot, Sprite, load_background, load_objects, place
from edgekit.demo.wide.plan import FramePlan, Lighting, Pose

_NOISE_SIGMA = 1.5
_OBJECT_JITTER_AT_512 = 2.0  # pixels, each object on its own
_OBJECT_TURN_DEG = 3.0


@dataclass(frozen=True, eq=False)
class WideScene:
    """A prepared category of the wide set that plans and paints defect-free frames.

    Attributes:
        category: The category.
        spec: How the category is made.
        size: Side of the square frames, pixels.
        base: The photo (or the surface of an object scene) prepared for this size, float32 BGR.
        noise: Sensor noise field, float32 (2 size, 2 size, 3).
        sprites: Object scenes: the objects.
        slots: Object scenes: where each object sits.
    """

    category: WideCategory
    spec: CategorySpec
    size: int
    base: np.ndarray
    noise: np.ndarray
    sprites: tuple[Sprite, ...] = ()
    slots: tuple[Slot, ...] = ()

    @property
    def kind(self) -> SceneKind:
        """Texture, aligned object or several objects."""
        return self.spec.kind

    @classmethod
    def load(cls, category: WideCategory, size: int) -> WideScene:
        """Load and prepare ``category`` for ``size`` x ``size`` frames.

        Args:
            category: The category.
            size: Frame side, pixels.

        Returns:
            The scene.
        """
        category = WideCategory(category)
        spec = SPECS[category]
        sprites: tuple[Sprite, ...] = ()
        slots: tuple[Slot, ...] = ()
        if spec.kind is SceneKind.TEXTURE:
            base = _texture_base(spec, size)
        elif spec.kind is SceneKind.ALIGNED:
            side = size + 2 * _margin(size)
            photo = read_photo(spec.photo, spec.tint_bgr, spec.crop_yxhw)
            grow = side > min(photo.shape[:2])
            base = cv2.resize(photo, (side, side), interpolation=cv2.INTER_CUBIC if grow else cv2.INTER_AREA)
            base = base.astype(np.float32)
        else:
            assert spec.background is not None  # every object scene names its surface
            base = load_background(spec.background, size + 2 * _margin(size), size)
            sprites, slots = load_objects(spec.photo, size)
        base.setflags(write=False)  # shared by every frame: never modified in place
        noise_rng = np.random.default_rng([zlib.crc32(category.encode()), size])
        noise = noise_rng.standard_normal((2 * size, 2 * size, 3), dtype=np.float32) * np.float32(_NOISE_SIGMA)
        noise.setflags(write=False)
        return cls(category, spec, size, base, noise, sprites, slots)

    def render(self, rng: np.random.Generator) -> np.ndarray:
        """Plan and paint one defect-free frame.

        Args:
            rng: Generator for every choice of the frame.

        Returns:
            uint8 BGR (size, size, 3).
        """
        return self.paint(self.plan(rng))

    def plan(self, rng: np.random.Generator) -> FramePlan:
        """Draw every random choice of one frame.

        Args:
            rng: The generator.

        Returns:
            The plan.
        """
        n = self.size
        if self.kind is SceneKind.TEXTURE:
            h, w = self.base.shape[:2]
            shift = (float(rng.integers(0, h - n + 1)), float(rng.integers(0, w - n + 1)))
            turns, flips = int(rng.integers(0, 4)), (bool(rng.random() < 0.5), bool(rng.random() < 0.5))
            return FramePlan(shift, 0.0, turns, flips, self._lighting(rng, 0.06, 0.02, 0.05, 0.04))
        reach = max(1.0, (3.0 if self.kind is SceneKind.ALIGNED else 2.0) * n / 512)
        shift = tuple(float(v) for v in rng.uniform(-reach, reach, 2))
        angle = float(rng.uniform(-0.4, 0.4)) if self.kind is SceneKind.ALIGNED else 0.0
        lighting = self._lighting(rng, 0.08, 0.04, 0.1, 0.08)
        poses = tuple(self._pose(slot, rng) for slot in self.slots)
        return FramePlan((shift[0], shift[1]), angle, 0, (False, False), lighting, poses)

    def paint(self, plan: FramePlan) -> np.ndarray:
        """Paint the frame a plan describes.

        Args:
            plan: Every choice of the frame.

        Returns:
            uint8 BGR (size, size, 3).
        """
        if self.kind is SceneKind.TEXTURE:
            frame = self._texture(plan)
        elif self.kind is SceneKind.ALIGNED:
            frame = self._warp(plan)
        else:
            frame = self._objects(plan)
        return self._finish(frame, plan.lighting)

    def footprint(self, plan: FramePlan, index: int) -> np.ndarray:
        """Where object ``index`` covers the frame in ``plan``.

        Args:
            plan: The frame's plan.
            index: The slot.

        Returns:
            bool (size, size).
        """
        out = np.zeros((self.size, self.size), bool)
        placed = self._place(plan, index)
        if placed is not None:
            ys, xs, _, alpha = placed
            out[ys, xs] = alpha > 0.02
        return out

    def object_center(self, plan: FramePlan, index: int) -> tuple[float, float]:
        """Centre (y, x) of object ``index`` in ``plan``, frame pixels.

        Args:
            plan: The frame's plan.
            index: The slot.

        Returns:
            The centre.
        """
        slot, pose = self.slots[index], plan.poses[index]
        return slot.center_yx[0] + plan.shift_yx[0] + pose.dy, slot.center_yx[1] + plan.shift_yx[1] + pose.dx

    def object_radius(self, index: int) -> float:
        """Half the side of the sprite in slot ``index``, pixels.

        Args:
            index: The slot.

        Returns:
            The radius.
        """
        return self.sprites[self.slots[index].sprite].alpha.shape[0] / 2

    def _lighting(
        self, rng: np.random.Generator, gain: float, temperature: float, gamma: float, slope: float
    ) -> Lighting:
        g = rng.uniform(1 - gain, 1 + gain)
        t = rng.uniform(-temperature, temperature)  # warmer: more red, less blue
        return Lighting(
            (float(g * (1 - t)), float(g), float(g * (1 + t))),
            float(rng.uniform(1 - gamma, 1 + gamma)),
            float(rng.uniform(0, slope)),
            float(rng.uniform(0, 2 * math.pi)),
            (int(rng.integers(0, self.size + 1)), int(rng.integers(0, self.size + 1))),
        )

    def _pose(self, slot: Slot, rng: np.random.Generator) -> Pose:
        reach = max(0.5, _OBJECT_JITTER_AT_512 * self.size / 512)
        dy, dx = (float(v) for v in rng.uniform(-reach, reach, 2))
        return Pose(dy, dx, float(rng.uniform(-_OBJECT_TURN_DEG, _OBJECT_TURN_DEG)), slot.sprite)

    def _texture(self, plan: FramePlan) -> np.ndarray:
        n = self.size
        y, x = int(plan.shift_yx[0]), int(plan.shift_yx[1])
        frame = self.base[y : y + n, x : x + n]
        if plan.flip_yx[0]:
            frame = frame[::-1]
        if plan.flip_yx[1]:
            frame = frame[:, ::-1]
        return np.rot90(frame, plan.turns)

    def _warp(self, plan: FramePlan) -> np.ndarray:
        n, margin = self.size, _margin(self.size)
        center = (self.base.shape[1] / 2, self.base.shape[0] / 2)
        matrix = cv2.getRotationMatrix2D(center, plan.angle, 1.0)
        matrix[0, 2] += plan.shift_yx[1] - margin
        matrix[1, 2] += plan.shift_yx[0] - margin
        return cv2.warpAffine(self.base, matrix, (n, n), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)

    def _objects(self, plan: FramePlan) -> np.ndarray:
        frame = self._warp(plan)
        for index in range(len(self.slots)):
            placed = self._place(plan, index)
            if placed is None:
                continue
            ys, xs, image, alpha = placed
            a = alpha[..., None]
            frame[ys, xs] = frame[ys, xs] * (1 - a) + image * a
        return frame

    def _place(self, plan: FramePlan, index: int) -> tuple[slice, slice, np.ndarray, np.ndarray] | None:
        pose = plan.poses[index]
        if not pose.present:
            return None
        return place(self.sprites[pose.sprite], self.object_center(plan, index), pose.angle, (self.size, self.size))

    def _finish(self, frame: np.ndarray, light: Lighting) -> np.ndarray:
        n = self.size
        gain = np.array(light.gain_bgr, np.float32)
        if light.slope > 0:
            ramp = np.linspace(-0.5, 0.5, n, dtype=np.float32)
            cos, sin = np.float32(math.cos(light.angle)), np.float32(math.sin(light.angle))
            ramp_field = 1 + np.float32(light.slope) * (ramp[None, :] * cos + ramp[:, None] * sin)
            out = frame * ramp_field[..., None] * gain
        else:
            out = frame * gain
        y, x = light.noise_yx
        out += self.noise[y : y + n, x : x + n]
        np.rint(out, out=out)
        np.clip(out, 0, 255, out=out)
        lut = np.clip(np.rint(255 * (np.arange(256) / 255) ** light.gamma), 0, 255).astype(np.uint8)
        return cv2.LUT(out.astype(np.uint8), lut)


def _texture_base(spec: CategorySpec, size: int) -> np.ndarray:
    photo = read_photo(spec.photo, spec.tint_bgr, spec.crop_yxhw)
    h, w = photo.shape[:2]
    factor = math.ceil(spec.texture_scale * size) / min(h, w)
    out_hw = (max(size, round(h * factor)), max(size, round(w * factor)))
    interpolation = cv2.INTER_CUBIC if factor > 1 else cv2.INTER_AREA
    return cv2.resize(photo, (out_hw[1], out_hw[0]), interpolation=interpolation).astype(np.float32)


def _margin(size: int) -> int:
    """Border kept around a scene so jitter never shows the photo's edge."""
    return math.ceil(3.0 * size / 512) + 4
