"""PaDiM per position: anomalib's ``PadimModel`` with a shared trunk.

Each position keeps anomalib's own Gaussian (mean ``[C, P]`` and inverse covariance ``[P, C, C]``),
the same numbers anomalib's ``MultiVariateGaussian`` fits, but accumulated batch by batch
(:class:`~edgekit.train.gaussian.GaussianAccumulator`) instead of from a memory bank of every
embedding. The random feature subset ``idx`` is drawn from the same seed for every position, so the
embedding is computed once per batch for all positions.

With ``--tiling features`` every position reads its window of one frame embedding, so positions
that cover the same patch would fit the same Gaussian: it is fitted once per frame location
(:meth:`PadimFamily.frame_accumulator`) and kept in the ensemble's ``shared`` state, and the
positions hold only ``idx``.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from edgekit._extras import require
from edgekit.errors import ConfigError
from edgekit.train.config import ModelName, TrainConfig
from edgekit.train.families.base import Family, Features, feature_layers, register
from edgekit.train.gaussian import GaussianAccumulator

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
        """A fresh ``PadimModel``; ``idx`` drawn from the run's seed (identical across positions).

        With ``padim_embedding="orthogonal"`` the model projects the concatenated layers onto
        ``n_features`` random orthonormal directions (drawn from the seed) instead of keeping a random
        subset of the channels: Kim et al., "Semi-orthogonal Embedding for Efficient Unsupervised
        Anomaly Segmentation" (2021).
        """
        padim = require("anomalib.models.image.padim.torch_model", "train")
        self.torch.manual_seed(self.config.seed)
        cls = padim.PadimModel
        if self.config.padim_embedding == "orthogonal":
            cls = functools.partial(_orthogonal_class(padim.PadimModel), seed=self.config.seed)
        return cls(
            backbone=self.config.backbone,
            layers=list(self.config.layers),
            pre_trained=False,
            n_features=self.config.n_features,
        )

    def features(self, trunk: torch.nn.Module, tiles: torch.Tensor) -> Features:
        """Trunk outputs per layer."""
        return trunk(tiles)

    #: Positions covering the same frame patch fit one Gaussian with ``--tiling features``.
    frame_state = True

    def _accumulator(self, emb: torch.Tensor) -> GaussianAccumulator:
        """An empty accumulator for embeddings like ``emb [B, C, H, W]``, with the configured ridge."""
        hw = (emb.shape[2], emb.shape[3])
        return GaussianAccumulator(emb.shape[1], hw[0] * hw[1], self.config.cov_reg, self.config.cov_pool, hw)

    def observe(self, model: torch.nn.Module, feats: Features, tiles: torch.Tensor) -> None:  # noqa: ARG002
        """Merge the position's embeddings into its running Gaussian (no memory bank)."""
        emb = model.generate_embedding(feats)
        acc = model.__dict__.get("_gaussian_acc")
        if acc is None:
            acc = self._accumulator(emb)
            model.__dict__["_gaussian_acc"] = acc
        acc.add(emb.flatten(2))

    def finish(self, model: torch.nn.Module) -> None:
        """Mean and inverse covariance per patch, as anomalib's ``PadimModel.fit`` computes them."""
        acc = model.__dict__.pop("_gaussian_acc", None)
        if acc is None:
            msg = "PaDiM position has no training embeddings to fit"
            raise ValueError(msg)
        model.gaussian.mean, model.gaussian.inv_covariance = acc.finish()

    def frame_accumulator(self, model: torch.nn.Module, full: Features) -> GaussianAccumulator:
        """An empty accumulator for the frame embedding of ``full`` (frame-level feature maps)."""
        emb = model.generate_embedding(full)
        return self._accumulator(emb)

    def frame_observe(self, acc: GaussianAccumulator, model: torch.nn.Module, full: Features) -> None:
        """Merge one batch of frame embeddings ``[B, C, Hf, Wf]`` (every frame location at once)."""
        acc.add(model.generate_embedding(full).flatten(2))

    def frame_finish(self, acc: GaussianAccumulator) -> dict[str, torch.Tensor]:
        """The shared state: ``mean [C, Hf, Wf]`` and ``inv_covariance [Hf, Wf, C, C]``."""
        mean, inv = acc.finish()
        h, w = acc.hw
        return {"mean": mean.reshape(-1, h, w), "inv_covariance": inv.reshape(h, w, *inv.shape[1:])}

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


@functools.cache
def _orthogonal_class(base: type) -> type:
    """``base`` (anomalib's ``PadimModel``) with a semi-orthogonal projection in place of ``idx``."""
    torch = require("torch", "train")
    functional = torch.nn.functional

    class OrthogonalPadimModel(base):  # type: ignore[misc, valid-type]
        """PaDiM projecting the layers' concatenation on the rows of ``proj [n_features, C]``.

        The rows are orthonormal, drawn from ``seed``, and saved with the position (a buffer).
        """

        def __init__(self, *, seed: int, **kwargs: object) -> None:
            super().__init__(**kwargs)
            generator = torch.Generator().manual_seed(seed)
            a = torch.randn(self.n_features_original, self.n_features, generator=generator, dtype=torch.float64)
            q, _ = torch.linalg.qr(a)  # [C, k], orthonormal columns
            self.register_buffer("proj", q.t().float().contiguous())

        def generate_embedding(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
            """The layers concatenated as anomalib does (coarser ones upsampled, nearest), then projected.

            anomalib's ``PadimModel.generate_embedding`` ends in ``index_select(idx)``; calling it with
            every channel would add a full copy of the embedding to the graph, so the concatenation is
            repeated here.
            """
            embeddings = features[self.layers[0]]
            for layer in self.layers[1:]:
                up = functional.interpolate(features[layer], size=embeddings.shape[-2:], mode="nearest")
                embeddings = torch.cat((embeddings, up), 1)
            return functional.conv2d(embeddings, self.proj[:, :, None, None])

    return OrthogonalPadimModel
