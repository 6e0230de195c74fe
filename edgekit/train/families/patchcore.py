"""PatchCore per position: anomalib's ``PatchcoreModel`` with a shared trunk.

The trunk and anomalib's 3x3 average pooling run once per batch; each position keeps its own
coreset memory bank and searches it for its tiles. The coreset is the one anomalib's
``KCenterGreedy`` selects, picked by :mod:`edgekit.train.coreset`: the same indices, 22-26x faster
(60 images, 61,440 vectors per position: benchmarks/coreset.py).

Training memory: anomalib keeps every patch embedding until the coreset is picked, ``images x
patches x C`` floats per position: about 8 GB for 60 images at 2448x2048 with 285 positions. Where
that projection exceeds :data:`BANK_BYTES`, each batch's embeddings are first thinned by the same
greedy k-center rule to the fraction that fits (at least twice the coreset ratio), and the final
coreset is picked from what was kept, sized by every vector seen. Below the budget (every 512 px
grid in this repository) nothing changes: the picks are anomalib's.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from edgekit._extras import require
from edgekit.errors import ConfigError
from edgekit.train.config import ModelName
from edgekit.train.coreset import coreset_size, select_coreset
from edgekit.train.families.base import Family, Features, register

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

#: Patch embeddings kept across all positions while training, before the coreset is picked.
BANK_BYTES = 2 * 2**30


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

    def begin(self, n_images: int, n_positions: int) -> None:
        """Plan the training memory: the per-batch fraction kept is decided on the first batch."""
        self._plan = (n_images, n_positions)
        self._keep: float | None = None

    def _keep_fraction(self, rows_per_image: int, channels: int) -> float:
        n_images, n_positions = getattr(self, "_plan", (0, 1))
        projected = n_images * rows_per_image * channels * 4 * n_positions
        if projected <= BANK_BYTES:
            return 1.0
        keep = min(1.0, max(BANK_BYTES / projected, 2 * self.config.coreset_ratio))
        logger.info(
            "PatchCore: %d images x %d positions would keep %.1f GB of patch embeddings; "
            "each batch is thinned by greedy k-center to %.1f %% first",
            n_images, n_positions, projected / 1e9, 100 * keep,
        )
        return keep

    @contextlib.contextmanager
    def _seeded(self) -> Iterator[None]:
        """Seed the global torch and numpy RNGs from the run (anomalib's projection draws from both)."""
        self.torch.manual_seed(self.config.seed)
        numpy_state = np.random.get_state()
        np.random.seed(self.config.seed)
        try:
            yield
        finally:
            np.random.set_state(numpy_state)

    def observe(self, model: torch.nn.Module, feats: Features, tiles: torch.Tensor) -> None:
        """Append the position's patch embeddings to anomalib's ``embedding_store`` (thinned if over budget)."""
        emb = model.reshape_embedding(model.generate_embedding(feats))
        if getattr(self, "_keep", None) is None:
            self._keep = self._keep_fraction(len(emb) // max(1, len(tiles)), emb.shape[1])
        model.__dict__["_seen"] = model.__dict__.get("_seen", 0) + len(emb)
        if self._keep < 1.0:
            with self._seeded():
                emb = emb[select_coreset(emb, max(1, math.ceil(len(emb) * self._keep)))]
        model.embedding_store.append(emb)

    def finish(self, model: torch.nn.Module) -> None:
        """Coreset subsampling into the memory bank, as anomalib's ``subsample_embedding`` (seeded).

        Raises:
            ConfigError: If the ratio keeps no feature at all (anomalib raises a bare ValueError).
        """
        bank = self.torch.vstack(model.embedding_store)
        seen = model.__dict__.pop("_seen", len(bank))  # every vector, kept or thinned away
        k = coreset_size(seen, self.config.coreset_ratio)
        if k < 1:
            least = math.ceil(1000 / seen) / 1000
            msg = (
                f"coreset_ratio {self.config.coreset_ratio:g} keeps none of the {seen} patch features of a "
                f"tile position; accepted: coreset_ratio >= {least:g} here (or more training images)"
            )
            raise ConfigError(msg)
        model.embedding_store.clear()
        # anomalib's SparseRandomProjection draws its columns from numpy's global RNG (sklearn's
        # sample_without_replacement with random_state=None): seeded too, then put back.
        with self._seeded():
            model.memory_bank = bank[select_coreset(bank, min(k, len(bank)))]

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
