"""Reverse Distillation per position: anomalib's ``ReverseDistillationModel``; the encoder is shared.

Each position trains its own one-class bottleneck and decoder (anomalib's OCBE and ResNet
decoder). anomalib ships decoders for ResNet-family encoders only, so this model needs a ResNet
backbone (``--backbone resnet18 --weights FILE`` offline); other backbones are refused up front.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edgekit._extras import require
from edgekit.errors import ConfigError
from edgekit.train.config import ModelName
from edgekit.train.families.base import Family, Features, register

if TYPE_CHECKING:
    import torch

SUPPORTED = ("resnet18", "wide_resnet50_2")


@register(ModelName.REVERSE_DISTILLATION)
class ReverseDistillationFamily(Family):
    """Reverse Distillation: a decoder rebuilds encoder features from a compact embedding."""

    trained = True
    trunk_attr = "encoder"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        if config.backbone not in SUPPORTED:
            msg = (
                f"reverse_distillation cannot use backbone {config.backbone!r}: anomalib's decoder exists only "
                f"for ResNets; accepted: {', '.join(SUPPORTED)} (offline: --backbone resnet18 --weights FILE)"
            )
            raise ConfigError(msg)

    def new_model(self) -> torch.nn.Module:
        """A fresh ``ReverseDistillationModel`` (additive map mode, anomalib's default)."""
        rd = require("anomalib.models.image.reverse_distillation.torch_model", "train")
        modes = require("anomalib.models.image.reverse_distillation.anomaly_map", "train")
        model = rd.ReverseDistillationModel(
            backbone=self.config.backbone,
            input_size=self.config.grid.tile_hw,
            layers=list(self.config.layers),
            anomaly_map_mode=modes.AnomalyMapGenerationMode.ADD,
            pre_trained=False,
        )
        model.loss_fn = require("anomalib.models.image.reverse_distillation.loss", "train").ReverseDistillationLoss()
        return model

    def features(self, trunk: torch.nn.Module, tiles: torch.Tensor) -> Features:
        """Encoder features per layer."""
        return trunk(tiles)

    def _decode(self, model: torch.nn.Module, feats: Features) -> tuple[list[Any], list[Any]]:
        enc = list(feats.values())
        return enc, model.decoder(model.bottleneck(enc))

    def make_optimizer(self, model: torch.nn.Module) -> Any:
        """Anomalib's ``ReverseDistillation.configure_optimizers`` (Adam, lr 5e-3, betas 0.5/0.99)."""
        params = list(model.decoder.parameters()) + list(model.bottleneck.parameters())
        return self.torch.optim.Adam(params, lr=self.config.lr or 0.005, betas=(0.5, 0.99))

    def loss(self, model: torch.nn.Module, feats: Features, tiles: torch.Tensor) -> torch.Tensor:  # noqa: ARG002
        """Anomalib's ``ReverseDistillationLoss`` (cosine distance per layer)."""
        enc, dec = self._decode(model, feats)
        return model.loss_fn(enc, dec)

    def predict(
        self, model: torch.nn.Module, feats: Features, tiles: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Anomalib's map (sum over layers of 1 - cosine similarity, blurred); score = map max."""
        enc, dec = self._decode(model, feats)
        amap = model.anomaly_map_generator(enc, dec)
        amap = self.fit_to_tile(amap, tiles)
        return amap, amap.amax(dim=(-3, -2, -1))
