"""What every model family provides to the tiled ensemble.

A *family* wraps one anomalib model class. The ensemble holds one anomalib torch model per tile
position (``PadimModel``, ``PatchcoreModel``, ...), all sharing ONE frozen trunk module, so a
batch of tiles goes through the trunk once and every position's own part reads its slice of the
result. Tile layout inside a family: features and tiles arrive for one position as ``[B, ...]``.
"""

from __future__ import annotations

import functools
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from edgekit._extras import require
from edgekit.errors import ConfigError
from edgekit.train.config import ModelName, TrainConfig

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

Features = dict[str, "torch.Tensor"]

_REGISTRY: dict[ModelName, type[Family]] = {}


def register(name: ModelName) -> Callable[[type[Family]], type[Family]]:
    """Class decorator adding a family to the registry; a second family of one name is an error."""

    def add(cls: type[Family]) -> type[Family]:
        if name in _REGISTRY:
            msg = f"model family {name!r} registered twice ({_REGISTRY[name].__name__} and {cls.__name__})"
            raise RuntimeError(msg)
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return add


def family_for(config: TrainConfig) -> Family:
    """The family object for ``config.model``."""
    # importing the package registers every family
    require("edgekit.train.families", "train")
    try:
        cls = _REGISTRY[config.model]
    except KeyError:
        msg = f"unknown model {config.model!r}; accepted: {', '.join(sorted(_REGISTRY))}"
        raise ConfigError(msg) from None
    return cls(config)


@functools.cache
def feature_layers(backbone: str) -> dict[str, int]:
    """The backbone's feature layers (timm ``feature_info`` module names) and their channel counts.

    Built on the meta device: no weights, no memory; cached per process.
    """
    torch, timm = require("torch", "train"), require("timm", "train")
    with torch.device("meta"):
        info = timm.create_model(backbone, pretrained=False, features_only=True).feature_info
    return {item["module"]: int(item["num_chs"]) for item in info.info}


def check_layers(backbone: str, layers: tuple[str, ...]) -> None:
    """Refuse trunk layers the backbone does not expose (anomalib only warns, then fails later).

    Args:
        backbone: timm backbone name.
        layers: Requested layer names.

    Raises:
        ConfigError: Naming the bad layer and the accepted ones.
    """
    names = list(feature_layers(backbone))
    bad = [layer for layer in layers if layer not in names]
    if bad:
        msg = f"layer {bad[0]!r} is not a feature layer of {backbone}; accepted: {', '.join(names)}"
        raise ConfigError(msg)


def truncate_efficientnet(extractor: torch.nn.Module, layers: tuple[str, ...] | list[str]) -> None:
    """Drop EfficientNet blocks after the deepest requested layer (timm runs them all otherwise).

    Args:
        extractor: anomalib ``TimmFeatureExtractor`` or a timm ``features_only`` model.
        layers: The requested layer names (``blocks.K``).
    """
    inner = getattr(extractor, "feature_extractor", extractor)
    blocks = getattr(inner, "blocks", None)
    if blocks is None or not all(str(layer).startswith("blocks.") for layer in layers):
        return
    deepest = max(int(str(layer).split(".")[1]) for layer in layers)
    inner.blocks = blocks[: deepest + 1]


class Family(ABC):
    """How one anomalib model becomes the per-position part of a tiled ensemble.

    Args:
        config: The training configuration.
    """

    name: ClassVar[ModelName]
    #: True where positions own trained weights (students, flows, decoders).
    trained: ClassVar[bool] = False
    #: Attribute of the anomalib model holding its frozen pretrained part.
    trunk_attr: ClassVar[str] = "feature_extractor"
    #: True where, with ``--tiling features``, positions covering one frame patch would fit the same
    #: state, so it is fitted once per frame location (``frame_accumulator/observe/finish``).
    frame_state: ClassVar[bool] = False

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.torch = require("torch", "train")

    # --- construction --------------------------------------------------------------------

    @abstractmethod
    def new_model(self) -> torch.nn.Module:
        """A fresh anomalib torch model for one position (with its own, unloaded trunk)."""

    def trunk_of(self, model: torch.nn.Module) -> torch.nn.Module:
        """The frozen shared part inside an anomalib model (its ``trunk_attr`` attribute)."""
        return getattr(model, self.trunk_attr)

    def share_trunk(self, model: torch.nn.Module, trunk: torch.nn.Module) -> None:
        """Make ``model`` use ``trunk`` instead of its own copy."""
        setattr(model, self.trunk_attr, trunk)

    def trunk_prefix(self) -> str:
        """State-dict prefix of the trunk inside a position model (left out of position files)."""
        return f"{self.trunk_attr}."

    def fit_to_tile(self, amap: torch.Tensor, tiles: torch.Tensor) -> torch.Tensor:
        """Bilinearly resize maps ``[B, 1, h, w]`` to the tile size where a model returns another size."""
        if tuple(amap.shape[-2:]) == tuple(tiles.shape[-2:]):
            return amap
        return self.torch.nn.functional.interpolate(amap, size=tuple(tiles.shape[-2:]), mode="bilinear")

    # --- the shared pass -----------------------------------------------------------------

    @abstractmethod
    def features(self, trunk: torch.nn.Module, tiles: torch.Tensor) -> Features:
        """Run the frozen trunk once on ``[B*N, 3, T, T]`` normalized tiles."""

    # --- fitting / training --------------------------------------------------------------

    def begin(self, n_images: int, n_positions: int) -> None:
        """Called once before the first :meth:`observe` of a fit (fitted models may plan their memory)."""
        del n_images, n_positions

    def observe(self, model: torch.nn.Module, feats: Features, tiles: torch.Tensor) -> None:
        """Collect one batch of a position's training features (fitted models)."""
        raise NotImplementedError

    def finish(self, model: torch.nn.Module) -> None:
        """Turn collected features into the position's state (fitted models)."""
        raise NotImplementedError

    def frame_accumulator(self, model: torch.nn.Module, full: Features) -> Any:
        """An empty per-frame-location accumulator for frame feature maps ``full`` (``frame_state`` families)."""
        raise NotImplementedError

    def frame_observe(self, acc: Any, model: torch.nn.Module, full: Features) -> None:
        """Merge one batch of frame feature maps into ``acc`` (``frame_state`` families)."""
        raise NotImplementedError

    def frame_finish(self, acc: Any) -> dict[str, torch.Tensor]:
        """The ensemble's shared state from ``acc`` (``frame_state`` families)."""
        raise NotImplementedError

    def make_optimizer(self, model: torch.nn.Module) -> Any:
        """The optimizer anomalib uses for this model (trained models)."""
        raise NotImplementedError

    def loss(self, model: torch.nn.Module, feats: Features, tiles: torch.Tensor) -> torch.Tensor:
        """Training loss of one position on one batch (trained models)."""
        raise NotImplementedError

    # --- inference -----------------------------------------------------------------------

    @abstractmethod
    def predict(
        self, model: torch.nn.Module, feats: Features, tiles: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Anomaly maps ``[B, 1, T, T]`` and scores ``[B]`` of one position."""

    def raw_map(self, model: torch.nn.Module, feats: Features) -> torch.Tensor | None:
        """The position's map ``[B, 1, h, w]`` at feature resolution, before upsampling and blur.

        Families whose map is one feature-resolution map followed by a bilinear upsample and
        ``map_blur`` (PaDiM, PatchCore) return it, which lets the ensemble join the tiles at feature
        resolution and upsample and blur once per frame (``JoinOrder.FRAME``). Others return None.
        """
        del model, feats
        return None

    def map_blur(self, model: torch.nn.Module) -> torch.nn.Module | None:
        """The Gaussian blur that follows the upsampling of :meth:`raw_map` (None: no blur)."""
        return getattr(getattr(model, "anomaly_map_generator", None), "blur", None)

    def state_bytes(self, model: torch.nn.Module) -> int:
        """Bytes of the position's own state (what the trunk does not share)."""
        prefix = self.trunk_prefix()
        return sum(t.numel() * t.element_size() for k, t in model.state_dict().items() if not k.startswith(prefix))
