"""PatchCore per position: anomalib's ``PatchcoreModel`` with a shared trunk.

The trunk and anomalib's 3x3 average pooling run once per batch; each position keeps its own
coreset memory bank and searches it for its tiles. The coreset is the one anomalib's
``KCenterGreedy`` selects, picked by :mod:`edgekit.train.coreset`: the same indices, 22-26x faster
(60 images, 61,440 vectors per position: benchmarks/coreset.py).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from edgekit._extras import require
from edgekit.errors import ConfigError
from edgekit.train.config import ModelName
from edgekit.train.coreset import coreset_size, select_coreset
from edgekit.train.families.base import Family, Features, register

if TYPE_CHECKING:
    import torch


@register(ModelName.PATCHCORE)
class PatchcoreFamily(Family):
    """PatchCore: nearest-neighbour distance to a coreset of normal patch features."""

    def new_model(self) -> torch.nn.Module:
        """A fresh ``PatchcoreModel``."""
        patchcore = require("anomalib.models.image.patchcore.torch_model", "train")
        return patchcore.PatchcoreModel(
            layers=list(self.config.layers),
            backbone=self.config.backbone,
            pre_trained=False,
            num_neighbors=self.config.num_neighbors,
        )

    def features(self, trunk: torch.nn.Module, tiles: torch.Tensor) -> Features:
        """Trunk outputs per layer, average-pooled as anomalib's ``feature_pooler`` does."""
        pool = self.torch.nn.functional.avg_pool2d
        return {k: pool(v, kernel_size=3, stride=1, padding=1) for k, v in trunk(tiles).items()}

    def observe(self, model: torch.nn.Module, feats: Features, tiles: torch.Tensor) -> None:  # noqa: ARG002
        """Append the position's patch embeddings to anomalib's ``embedding_store``."""
        model.embedding_store.append(model.reshape_embedding(model.generate_embedding(feats)))

    def finish(self, model: torch.nn.Module) -> None:
        """Coreset subsampling into the memory bank, as anomalib's ``subsample_embedding`` (seeded).

        Raises:
            ConfigError: If the ratio keeps no feature at all (anomalib raises a bare ValueError).
        """
        bank = self.torch.vstack(model.embedding_store)
        k = coreset_size(len(bank), self.config.coreset_ratio)
        if k < 1:
            least = math.ceil(1000 / len(bank)) / 1000
            msg = (
                f"coreset_ratio {self.config.coreset_ratio:g} keeps none of the {len(bank)} patch features of a "
                f"tile position; accepted: coreset_ratio >= {least:g} here (or more training images)"
            )
            raise ConfigError(msg)
        model.embedding_store.clear()
        self.torch.manual_seed(self.config.seed)
        # anomalib's SparseRandomProjection draws its columns from numpy's global RNG (sklearn's
        # sample_without_replacement with random_state=None): seed it too, then put it back.
        numpy_state = np.random.get_state()
        np.random.seed(self.config.seed)
        try:
            model.memory_bank = bank[select_coreset(bank, k)]
        finally:
            np.random.set_state(numpy_state)

    def predict(
        self, model: torch.nn.Module, feats: Features, tiles: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Anomalib's nearest-neighbour map and reweighted score."""
        emb4 = model.generate_embedding(feats)
        batch = emb4.shape[0]
        emb = model.reshape_embedding(emb4)
        patch_scores, locations = model.nearest_neighbors(emb, n_neighbors=1)
        patch_scores = patch_scores.reshape(batch, -1)
        locations = locations.reshape(batch, -1)
        score = model.compute_anomaly_score(patch_scores, locations, emb)
        amap = model.anomaly_map_generator(
            patch_scores.reshape(batch, 1, *emb4.shape[-2:]), tuple(tiles.shape[-2:])
        )
        return amap, score

    def raw_map(self, model: torch.nn.Module, feats: Features) -> torch.Tensor:
        """Nearest-neighbour distance per patch ``[B, 1, h, w]`` (before upsampling and blur)."""
        emb4 = model.generate_embedding(feats)
        patch_scores, _ = model.nearest_neighbors(model.reshape_embedding(emb4), n_neighbors=1)
        return patch_scores.reshape(emb4.shape[0], 1, *emb4.shape[-2:])
