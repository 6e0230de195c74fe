"""Defect-free frames rendered from photographs that ship with scikit-image.

Two kinds of scene, the two kinds an inspection camera meets:

- ``texture`` (``gravel``, ``brick``): a stationary surface. Each frame is a random crop of the
  photo (scaled to 1.3x the frame side), randomly mirrored, with a small gain change and sensor
  noise. The grey photos are tinted to a plausible surface colour so colour defects make sense.
- ``aligned`` (``coffee``): an object under a fixed camera. Each frame is the same view with a few
  pixels of jitter (3 px at 512, scaled with the frame), a rotation under 0.3 degrees, a gain (+-7 %) and
  white-balance (+-2 %) change, a gentle illumination gradient (up to 6 %) and sensor noise.

Only photos that scikit-image bundles are used (no pooch, no network); every one is checked by
``tests/unit/demo``. Frames are uint8 BGR, as OpenCV reads and writes them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np

from edgekit._extras import require


class DemoCategory(StrEnum):
    """The demo categories (also the top-level folder names)."""

    GRAVEL = "gravel"
    BRICK = "brick"
    COFFEE = "coffee"


class SceneKind(StrEnum):
    """How frames of a category vary between shots."""

    TEXTURE = "texture"
    ALIGNED = "aligned"
    OBJECTS = "objects"  # several objects on a background, each with its own jitter (the wide set)


@dataclass(frozen=True)
class _Source:
    photo: str  # function name in skimage.data
    kind: SceneKind
    tint_bgr: tuple[float, float, float] = (1.0, 1.0, 1.0)  # applied to grey photos only
    crop_yxhw: tuple[int, int, int, int] | None = None  # square region of interest of the photo


_SOURCES: dict[DemoCategory, _Source] = {
    DemoCategory.GRAVEL: _Source("gravel", SceneKind.TEXTURE, tint_bgr=(0.86, 0.95, 1.05)),
    DemoCategory.BRICK: _Source("brick", SceneKind.TEXTURE, tint_bgr=(0.62, 0.76, 1.1)),
    # coffee is 400 x 600: the square around the cup and saucer.
    DemoCategory.COFFEE: _Source("coffee", SceneKind.ALIGNED, crop_yxhw=(0, 80, 400, 400)),
}

_TEXTURE_SCALE = 1.3  # the photo is scaled to this many frame sides, then cropped
_JITTER_AT_512 = 3.0  # aligned scenes: largest shift in pixels at a 512 frame
_NOISE_SIGMA = 1.5  # grey levels


def load_photo(category: DemoCategory) -> np.ndarray:
    """Load the bundled photograph of ``category`` as uint8 BGR (H, W, 3).

    Args:
        category: The demo category.

    Returns:
        The photo, cropped to its region of interest, grey photos tinted to three channels.

    Raises:
        MissingExtraError: If scikit-image is not installed.
    """
    source = _SOURCES[DemoCategory(category)]
    return read_photo(source.photo, source.tint_bgr, source.crop_yxhw)


def read_photo(
    name: str,
    tint_bgr: tuple[float, float, float] = (1.0, 1.0, 1.0),
    crop_yxhw: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """Load a photograph bundled with scikit-image as uint8 BGR (H, W, 3).

    Args:
        name: Function name in ``skimage.data``, e.g. ``"coffee"``.
        tint_bgr: Per-channel factor applied to grey photos (colour photos are left as they are).
        crop_yxhw: Region of interest (y, x, height, width), or None for the whole photo.

    Returns:
        The photo, cropped, grey photos tinted to three channels, the alpha channel dropped.

    Raises:
        MissingExtraError: If scikit-image is not installed.
    """
    skdata = require("skimage.data", "demo")
    photo = np.asarray(getattr(skdata, name)())
    if crop_yxhw is not None:
        y, x, h, w = crop_yxhw
        photo = photo[y : y + h, x : x + w]
    if photo.ndim == 2:
        grey = photo.astype(np.float32)[..., None]
        photo = np.clip(np.rint(grey * np.array(tint_bgr, np.float32)), 0, 255).astype(np.uint8)
    else:
        photo = np.ascontiguousarray(photo[..., 2::-1])  # RGB(A) -> BGR
    return photo


@dataclass(frozen=True, eq=False)
class Scene:
    """A prepared photo that renders defect-free frames of one category.

    Attributes:
        category: The demo category.
        kind: Texture or aligned-object scene.
        size: Side of the square frames, pixels.
        base: The photo prepared for this size, float32 BGR.
    """

    category: DemoCategory
    kind: SceneKind
    size: int
    base: np.ndarray

    @classmethod
    def load(cls, category: DemoCategory, size: int) -> Scene:
        """Load and scale the photo of ``category`` for ``size`` x ``size`` frames.

        Args:
            category: The demo category.
            size: Frame side in pixels.

        Returns:
            The scene.
        """
        category = DemoCategory(category)
        kind = _SOURCES[category].kind
        photo = load_photo(category)
        side = math.ceil(_TEXTURE_SCALE * size) if kind is SceneKind.TEXTURE else size + 2 * _margin(size)
        grow = side > min(photo.shape[:2])
        resized = cv2.resize(photo, (side, side), interpolation=cv2.INTER_CUBIC if grow else cv2.INTER_AREA)
        base = resized.astype(np.float32)
        base.setflags(write=False)  # shared by every frame: never modified in place
        return cls(category, kind, size, base)

    def render(self, rng: np.random.Generator) -> np.ndarray:
        """Render one defect-free frame.

        Args:
            rng: Generator for the frame's crop, jitter, lighting and noise.

        Returns:
            uint8 BGR frame of shape (size, size, 3).
        """
        frame = self._texture(rng) if self.kind is SceneKind.TEXTURE else self._aligned(rng)
        noise = rng.standard_normal(frame.shape, dtype=np.float32)
        noise *= np.float32(_NOISE_SIGMA)
        frame += noise
        np.rint(frame, out=frame)
        np.clip(frame, 0, 255, out=frame)
        return frame.astype(np.uint8)

    def _texture(self, rng: np.random.Generator) -> np.ndarray:
        n, side = self.size, self.base.shape[0]
        y, x = (int(v) for v in rng.integers(0, side - n + 1, 2))
        frame = self.base[y : y + n, x : x + n]
        if rng.random() < 0.5:
            frame = frame[:, ::-1]
        if rng.random() < 0.5:
            frame = frame[::-1]
        return frame * np.float32(rng.uniform(0.94, 1.06))

    def _aligned(self, rng: np.random.Generator) -> np.ndarray:
        n, margin = self.size, _margin(self.size)
        center = (self.base.shape[1] / 2, self.base.shape[0] / 2)
        matrix = cv2.getRotationMatrix2D(center, float(rng.uniform(-0.3, 0.3)), 1.0)
        jitter = max(1.0, _JITTER_AT_512 * n / 512)
        matrix[:, 2] += rng.uniform(-jitter, jitter, 2) - margin
        frame = cv2.warpAffine(
            self.base, matrix, (n, n), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        # Lighting: global gain, white balance, and a gentle linear gradient in a random direction.
        gain = rng.uniform(0.93, 1.07) * rng.uniform(0.98, 1.02, 3)
        angle, slope = rng.uniform(0, 2 * math.pi), rng.uniform(0.0, 0.06)
        ramp = np.linspace(-0.5, 0.5, n, dtype=np.float32)
        field = 1 + slope * (ramp[None, :] * math.cos(angle) + ramp[:, None] * math.sin(angle))
        return frame * field[..., None] * gain.astype(np.float32)


def _margin(size: int) -> int:
    """Border kept around an aligned scene so jitter never shows the photo's edge."""
    return math.ceil(_JITTER_AT_512 * size / 512) + 4


def scene_kind(category: DemoCategory) -> SceneKind:
    """The scene kind of ``category``.

    Args:
        category: The demo category.

    Returns:
        Texture or aligned.
    """
    return _SOURCES[DemoCategory(category)].kind
