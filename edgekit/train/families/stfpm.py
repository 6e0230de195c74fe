"""STFPM per position: anomalib's ``STFPMModel``; the pretrained teacher is shared, each position trains its student.

anomalib 2.7 builds the teacher with ``pre_trained=True`` hard-coded (a hub download); we build it
with ``pre_trained=False`` instead and load the offline weights into it, which gives the same
module with the same weights.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from unittest import mock

from edgekit._extras import require
from edgekit.train.config import ModelName
from edgekit.train.families.base import Family, Features, register, truncate_efficientnet

if TYPE_CHECKING:
    import torch


@register(ModelName.STFPM)
class StfpmFamily(Family):
    """STFPM: a student regresses the teacher's normalized features; the gap is the anomaly."""

    trained = True
    trunk_attr = "teacher_model"

    def new_model(self) -> torch.nn.Module:
        """A fresh ``STFPMModel`` with an offline-built teacher and a random student."""
        stm = require("anomalib.models.image.stfpm.torch_model", "train")
        components = require("anomalib.models.components", "train")

        def offline(**kwargs: Any) -> torch.nn.Module:
            return components.TimmFeatureExtractor(**{**kwargs, "pre_trained": False})

        with mock.patch.object(stm, "TimmFeatureExtractor", offline):
            model = stm.STFPMModel(layers=list(self.config.layers), backbone=self.config.backbone)
        truncate_efficientnet(model.student_model, self.config.layers)
        model.loss_fn = require("anomalib.models.image.stfpm.loss", "train").STFPMLoss()
        return model

    def features(self, trunk: torch.nn.Module, tiles: torch.Tensor) -> Features:
        """Teacher features per layer."""
        return trunk(tiles)

    def make_optimizer(self, model: torch.nn.Module) -> Any:
        """Anomalib's ``Stfpm.configure_optimizers`` (SGD, lr 0.4, momentum 0.9, wd 1e-3)."""
        lr = self.config.lr or 0.4
        return self.torch.optim.SGD(
            model.student_model.parameters(), lr=lr, momentum=0.9, dampening=0.0, weight_decay=0.001
        )

    def loss(self, model: torch.nn.Module, feats: Features, tiles: torch.Tensor) -> torch.Tensor:
        """Anomalib's ``STFPMLoss`` between teacher and student features."""
        return model.loss_fn(feats, model.student_model(tiles))

    def predict(
        self, model: torch.nn.Module, feats: Features, tiles: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Anomalib's map (product over layers of the feature gap); score = map max."""
        amap = model.anomaly_map_generator(
            teacher_features=feats, student_features=model.student_model(tiles), image_size=tuple(tiles.shape[-2:])
        )
        return amap, amap.amax(dim=(-3, -2, -1))
