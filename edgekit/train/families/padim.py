"""PaDiM per position: anomalib's ``PadimModel`` with a shared trunk.

Each position keeps anomalib's own Gaussian (mean ``[C, P]`` and inverse covariance ``[P, C, C]``,
fitted by anomalib's ``MultiVariateGaussian``). The random feature subset ``idx`` is drawn from the
same seed for every position, so the embedding is computed once per batch for all positions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgekit._extras import require
from edgekit.errors import ConfigError
from edgekit.train.config import ModelName, TrainConfig
from edgekit.train.families.base import Family, Features, feature_layers, register

if TYPE_CHECKING:
    import torch


@register(ModelName.PADIM)
class PadimFamily(Family):
    """PaDiM: per-patch multivariate Gaussians over pretrained features."""

    def __init__(self, config: TrainConfig) -> None:
        super().__init__(config)
        # anomalib raises a bare ValueError for this deep inside PadimModel; say it in one line first
        available = sum(feature_layers(config.backbone).get(layer, 0) for layer in config.layers)
        if not 1 <= config.n_features <= available:
            msg = (
                f"n_features {config.n_features} does not fit the {available} channels of {config.backbone} "
                f"layers {', '.join(config.layers)}; accepted: 1 <= n_features <= {available}"
            )
            raise ConfigError(msg)

    def new_model(self) -> torch.nn.Module:
        """A fresh ``PadimModel``; ``idx`` drawn from the run's seed (identical across positions)."""
        padim = require("anomalib.models.image.padim.torch_model", "train")
        self.torch.manual_seed(self.config.seed)
        return padim.PadimModel(
            backbone=self.config.backbone,
            layers=list(self.config.layers),
            pre_trained=False,
            n_features=self.config.n_features,
        )

    def features(self, trunk: torch.nn.Module, tiles: torch.Tensor) -> Features:
        """Trunk outputs per layer."""
        return trunk(tiles)

    def observe(self, model: torch.nn.Module, feats: Features, tiles: torch.Tensor) -> None:  # noqa: ARG002
        """Append the position's embeddings to anomalib's ``memory_bank``."""
        model.memory_bank.append(model.generate_embedding(feats))

    def finish(self, model: torch.nn.Module) -> None:
        """Anomalib's ``PadimModel.fit``: mean and inverse covariance per patch."""
        model.fit()

    def predict(
        self, model: torch.nn.Module, feats: Features, tiles: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Anomalib's anomaly map (Mahalanobis, upsample, blur); score = map max, as anomalib does."""
        emb = model.generate_embedding(feats)
        amap = model.anomaly_map_generator(
            embedding=emb,
            mean=model.gaussian.mean,
            inv_covariance=model.gaussian.inv_covariance,
            image_size=tuple(tiles.shape[-2:]),
        )
        return amap, amap.amax(dim=(-3, -2, -1))

    def raw_map(self, model: torch.nn.Module, feats: Features) -> torch.Tensor:
        """Anomalib's Mahalanobis distance per patch ``[B, 1, h, w]`` (before upsampling and blur)."""
        emb = model.generate_embedding(feats)
        return model.anomaly_map_generator.compute_distance(emb, [model.gaussian.mean, model.gaussian.inv_covariance])
