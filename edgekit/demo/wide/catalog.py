"""The wide benchmark set: its categories, what each is made of, and its defect kinds and sizes.

Ten categories, all from photographs that ship with scikit-image (no download):

- textures, cut at random offsets with flips and quarter turns: ``grass``, ``tissue``
  (immunohistochemistry), ``stars`` (Hubble deep field);
- aligned objects under a fixed camera, with jitter and lighting changes: ``cat`` (chelsea),
  ``astronaut``, ``logo``, ``retina``, ``rocket``;
- several objects on a background, each with its own jitter (VisA-like): ``coins`` (16 coins cut
  from the coins photo), ``tray`` (nine small parts cut from other photos).

Each category has a size class: the range its defect areas are drawn from, as a fraction of the
frame. The quality benchmark groups categories by it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from edgekit.demo.scenes import SceneKind


class WideCategory(StrEnum):
    """The wide-set categories (also the top-level folder names)."""

    GRASS = "grass"
    TISSUE = "tissue"
    STARS = "stars"
    CAT = "cat"
    ASTRONAUT = "astronaut"
    LOGO = "logo"
    RETINA = "retina"
    ROCKET = "rocket"
    COINS = "coins"
    TRAY = "tray"


class WideDefectKind(StrEnum):
    """The wide-set defect kinds (also the ``test/<kind>`` folder names)."""

    CRACK = "crack"  # a thin (1-2 px at 512) branching polyline, darker (or lighter) than the surface
    MISSING = "missing"  # a region inpainted from its surroundings, or a whole object gone
    COLOUR_SHIFT = "colour_shift"  # a soft blob whose chroma is shifted (Lab a*/b*), lightness kept
    SPOTS = "spots"  # contamination: a cluster of small dark or bright specks
    FIBRE = "fibre"  # contamination: a long thin translucent hair or fibre
    MISPLACED = "misplaced"  # a part or an object shifted / turned beyond the normal jitter, or swapped


class SizeClass(StrEnum):
    """Defect area range of a category, as a fraction of the frame."""

    SMALL = "small"  # 0.02 % .. 0.1 %
    MIXED = "mixed"  # 0.02 % .. 1 %
    LARGE = "large"  # 0.1 % .. 1 %


AREA_RANGES: dict[SizeClass, tuple[float, float]] = {
    SizeClass.SMALL: (0.0002, 0.001),
    SizeClass.MIXED: (0.0002, 0.01),
    SizeClass.LARGE: (0.001, 0.01),
}
# The whole set's defect areas lie in this range (the union of the size classes).
WIDE_AREA_RANGE = (0.0002, 0.01)

# What area each kind can reach; a category's range is intersected with it.
KIND_AREA_RANGES: dict[WideDefectKind, tuple[float, float]] = {
    WideDefectKind.CRACK: (0.0002, 0.003),
    WideDefectKind.MISSING: (0.0004, 0.01),
    WideDefectKind.COLOUR_SHIFT: (0.0004, 0.01),
    WideDefectKind.SPOTS: (0.0002, 0.004),
    WideDefectKind.FIBRE: (0.0002, 0.002),
    WideDefectKind.MISPLACED: (0.0004, 0.01),
}

# A stationary texture has no placement to get wrong.
_TEXTURE_KINDS = tuple(k for k in WideDefectKind if k is not WideDefectKind.MISPLACED)


@dataclass(frozen=True)
class Background:
    """The surface objects lie on: a photo, flattened to low contrast and tinted.

    Attributes:
        photo: Function name in ``skimage.data``.
        tint_bgr: Colour of the surface at mid grey, 0..255 per channel.
        contrast: Share of the photo's contrast kept.
        blur: Gaussian blur sigma at a 512 frame, pixels.
    """

    photo: str
    tint_bgr: tuple[float, float, float]
    contrast: float
    blur: float


@dataclass(frozen=True)
class CategorySpec:
    """How one wide-set category is made.

    Attributes:
        kind: Texture, aligned object, or several objects.
        photo: Function name in ``skimage.data`` (the sprite set for object scenes).
        size_class: Defect area range.
        tint_bgr: Applied to grey photos only.
        crop_yxhw: Square region of interest of the photo.
        texture_scale: Textures: the photo's short side is scaled to this many frame sides.
        background: Object scenes: the surface.
    """

    kind: SceneKind
    photo: str
    size_class: SizeClass
    tint_bgr: tuple[float, float, float] = (1.0, 1.0, 1.0)
    crop_yxhw: tuple[int, int, int, int] | None = None
    texture_scale: float = 1.4
    background: Background | None = None

    @property
    def defect_kinds(self) -> tuple[WideDefectKind, ...]:
        """The defect kinds this category's test and validation splits hold."""
        return _TEXTURE_KINDS if self.kind is SceneKind.TEXTURE else tuple(WideDefectKind)

    @property
    def area_range(self) -> tuple[float, float]:
        """Defect area range, fraction of the frame."""
        return AREA_RANGES[self.size_class]


SPECS: dict[WideCategory, CategorySpec] = {
    WideCategory.GRASS: CategorySpec(SceneKind.TEXTURE, "grass", SizeClass.MIXED, tint_bgr=(0.55, 0.95, 0.75)),
    WideCategory.TISSUE: CategorySpec(SceneKind.TEXTURE, "immunohistochemistry", SizeClass.SMALL),
    # 872 x 1000: at a 512 frame the photo keeps its own scale.
    WideCategory.STARS: CategorySpec(SceneKind.TEXTURE, "hubble_deep_field", SizeClass.SMALL, texture_scale=1.7),
    WideCategory.CAT: CategorySpec(SceneKind.ALIGNED, "chelsea", SizeClass.MIXED, crop_yxhw=(0, 80, 300, 300)),
    WideCategory.ASTRONAUT: CategorySpec(
        SceneKind.ALIGNED, "astronaut", SizeClass.LARGE, crop_yxhw=(0, 40, 420, 420)
    ),
    WideCategory.LOGO: CategorySpec(SceneKind.ALIGNED, "logo", SizeClass.SMALL),
    WideCategory.RETINA: CategorySpec(
        SceneKind.ALIGNED, "retina", SizeClass.SMALL, crop_yxhw=(230, 200, 980, 980)
    ),
    WideCategory.ROCKET: CategorySpec(SceneKind.ALIGNED, "rocket", SizeClass.MIXED, crop_yxhw=(0, 106, 427, 427)),
    WideCategory.COINS: CategorySpec(
        SceneKind.OBJECTS,
        "coins",
        SizeClass.MIXED,
        background=Background("gravel", tint_bgr=(70.0, 52.0, 40.0), contrast=0.18, blur=1.5),
    ),
    WideCategory.TRAY: CategorySpec(
        SceneKind.OBJECTS,
        "tray",
        SizeClass.LARGE,
        background=Background("moon", tint_bgr=(196.0, 190.0, 182.0), contrast=0.1, blur=1.0),
    ),
}


def kind_area_range(spec: CategorySpec, kind: WideDefectKind) -> tuple[float, float]:
    """The area range a defect of ``kind`` is drawn from in a category.

    Args:
        spec: The category.
        kind: The defect kind.

    Returns:
        (low, high) fraction of the frame: the category's range within what the kind can reach.
    """
    low, high = spec.area_range
    kind_low, kind_high = KIND_AREA_RANGES[kind]
    return max(low, kind_low), min(high, kind_high)
