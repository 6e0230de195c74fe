"""FastFlow per position: anomalib's ``FastflowModel``; the frozen extractor is shared, each position trains its flows.

anomalib 2.7 accepts only resnet18 / wide_resnet50_2 (and two transformers) by name, but its CNN
path works with any timm ``features_only`` model: for efficientnet_lite0 we build the model for
resnet18 and swap in the efficientnet extractor with LayerNorms and flow blocks sized for its
channels (24, 40, 112 at strides 4, 8, 16), exactly as anomalib sizes them for a ResNet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edgekit._extras import require
from edgekit.train.config import ModelName
from edgekit.train.families.base import Family, Features, register, truncate_efficientnet

if TYPE_CHECKING:
    import torch

_NATIVE = ("resnet18", "wide_resnet50_2")


@register(ModelName.FASTFLOW)
class FastflowFamily(Family):
    """FastFlow: 2D normalizing flows over frozen features; low likelihood is the anomaly."""

    trained = True

    def new_model(self) -> torch.nn.Module:
        """A fresh ``FastflowModel`` for the tile size, with per-scale LayerNorms and flows."""
        ff = require("anomalib.models.image.fastflow.torch_model", "train")
        timm = require("timm", "train")
        tile_hw = self.config.grid.tile_hw
        native = self.config.backbone if self.config.backbone in _NATIVE else "resnet18"
        model = ff.FastflowModel(input_size=tile_hw, backbone=native, pre_trained=False)
        fe = model.feature_extractor
        if self.config.backbone != native or self.config.layers != ("layer1", "layer2", "layer3"):
            info = timm.create_model(self.config.backbone, pretrained=False, features_only=True).feature_info
            names = [i["module"] for i in info.info]
            out_indices = [names.index(layer) for layer in self.config.layers]
            fe = timm.create_model(
                self.config.backbone, pretrained=False, features_only=True, out_indices=out_indices
            )
            truncate_efficientnet(fe, self.config.layers)
            channels, reductions = fe.feature_info.channels(), fe.feature_info.reduction()
            nn = self.torch.nn
            shapes = [[c, tile_hw[0] // r, tile_hw[1] // r] for c, r in zip(channels, reductions, strict=True)]
            model.norms = nn.ModuleList(nn.LayerNorm(s, elementwise_affine=True) for s in shapes)
            model.fast_flow_blocks = nn.ModuleList(
                ff.create_fast_flow_block(s, conv3x3_only=False, hidden_ratio=1.0, flow_steps=8) for s in shapes
            )
            model.feature_extractor = fe
        for p in fe.parameters():
            p.requires_grad_(False)
        model.loss_fn = require("anomalib.models.image.fastflow.loss", "train").FastflowLoss()
        return model

    def features(self, trunk: torch.nn.Module, tiles: torch.Tensor) -> Features:
        """Raw extractor outputs (before the per-position LayerNorms), keyed by index."""
        trunk.eval()
        return {str(i): f for i, f in enumerate(trunk(tiles))}

    def _hidden(self, model: torch.nn.Module, feats: Features) -> tuple[list[Any], list[Any]]:
        hidden, jacobians = [], []
        for i, (block, norm) in enumerate(zip(model.fast_flow_blocks, model.norms, strict=True)):
            z, log_jac = block(norm(feats[str(i)]))
            hidden.append(z)
            jacobians.append(log_jac)
        return hidden, jacobians

    def make_optimizer(self, model: torch.nn.Module) -> Any:
        """Anomalib's ``Fastflow.configure_optimizers`` (Adam, lr 1e-3, wd 1e-5) over norms and flows."""
        params = [p for n, p in model.named_parameters() if not n.startswith("feature_extractor.")]
        return self.torch.optim.Adam(params, lr=self.config.lr or 0.001, weight_decay=0.00001)

    def loss(self, model: torch.nn.Module, feats: Features, tiles: torch.Tensor) -> torch.Tensor:  # noqa: ARG002
        """Anomalib's ``FastflowLoss``."""
        hidden, jacobians = self._hidden(model, feats)
        return model.loss_fn(hidden, jacobians)

    def predict(
        self, model: torch.nn.Module, feats: Features, tiles: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Anomalib's map (mean over scales of -exp(-mean z^2 / 2)); score = map max."""
        hidden, _ = self._hidden(model, feats)
        amap = model.anomaly_map_generator(hidden)
        amap = self.fit_to_tile(amap, tiles)
        return amap, amap.amax(dim=(-3, -2, -1))
