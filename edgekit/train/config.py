"""Training configuration: one validated dataclass, with per-model defaults in one table."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from edgekit.artifacts.record import ThresholdMethod  # noqa: F401 - re-exported: part of the config vocabulary
from edgekit.errors import ConfigError
from edgekit.tiling import JoinOrder, JoinWeights, ScoreRule, TileGrid


class ModelName(StrEnum):
    """The anomalib models a tile position can hold."""

    PADIM = "padim"
    PATCHCORE = "patchcore"
    STFPM = "stfpm"
    FASTFLOW = "fastflow"
    REVERSE_DISTILLATION = "reverse_distillation"


class ValSplit(StrEnum):
    """Where validation images come from.

    ``AUTO`` (the default) never fits on the test images where it can help it: the data set's
    held-out validation folder when it has one (``VALIDATION``), else held-out good training images
    (``FROM_TRAIN``); only where too few training images remain to hold any out does it fall back
    to the test split, and says so.
    ``VALIDATION``: ``ROOT/validation/CATEGORY`` (or ``--val-data``), good and defective images
    with masks, held out from both training and test: F1-adaptive thresholds.
    ``FROM_TRAIN`` holds out a fraction of the good training images: there are no anomalies to fit
    an F1 threshold on, so thresholds are a stated high quantile of normal scores.
    ``SAME_AS_TEST`` is anomalib's default (thresholds fitted on the test split, F1-adaptive), kept
    for parity with anomalib's figures: its F1 is optimistic.
    """

    AUTO = "auto"
    VALIDATION = "validation"
    FROM_TRAIN = "from_train"
    SAME_AS_TEST = "same_as_test"


# Feature layers per backbone, for the models that read several trunk stages. For
# efficientnet_lite0/1/2 timm's feature_info modules are blocks.0,1,2,4,6 (strides 2,4,8,16,32;
# channels 16,24,40,112,320 for Lite0 and Lite1, 16,24,48,120,352 for Lite2).
_RESNET_LAYERS: dict[ModelName, tuple[str, ...]] = {
    **{m: ("layer1", "layer2", "layer3") for m in ModelName},
    ModelName.PATCHCORE: ("layer2", "layer3"),
}
_EFFICIENTNET_LITE_LAYERS: dict[ModelName, tuple[str, ...]] = {
    ModelName.PADIM: ("blocks.2", "blocks.4"),
    ModelName.PATCHCORE: ("blocks.2", "blocks.4"),
    ModelName.STFPM: ("blocks.1", "blocks.2", "blocks.4"),
    ModelName.FASTFLOW: ("blocks.1", "blocks.2", "blocks.4"),
    ModelName.REVERSE_DISTILLATION: ("blocks.1", "blocks.2", "blocks.4"),
}
#: PaDiM's ways of making ``n_features`` from the trunk's channels (the first is anomalib's, the default).
PADIM_EMBEDDINGS = ("subset", "orthogonal")

_LAYERS: dict[str, dict[ModelName, tuple[str, ...]]] = {
    "efficientnet_lite0": _EFFICIENTNET_LITE_LAYERS,
    "efficientnet_lite1": _EFFICIENTNET_LITE_LAYERS,
    "efficientnet_lite2": _EFFICIENTNET_LITE_LAYERS,
    # anomalib's own defaults for ResNets (strides 4, 8, 16; PatchCore skips layer1)
    "resnet18": _RESNET_LAYERS,
    "wide_resnet50_2": _RESNET_LAYERS,
}

_DEFAULT_EPOCHS = {
    ModelName.PADIM: 1,
    ModelName.PATCHCORE: 1,
    ModelName.STFPM: 20,
    ModelName.FASTFLOW: 20,
    ModelName.REVERSE_DISTILLATION: 20,
}


def _choice(enum: type[StrEnum], value: Any, name: str) -> Any:
    """``enum(value)``, or a one-line ConfigError listing the accepted values."""
    try:
        return enum(value)
    except ValueError:
        msg = f"unknown {name} {value!r}; accepted: {', '.join(m.value for m in enum)}"
        raise ConfigError(msg) from None


#: The score rule ``--score auto`` takes per model. PaDiM ensembles gain under ``z_coverage`` (image AUROC
#: 0.846 -> 0.849 on 10 categories x 3 seeds, logo 0.940 -> 0.986); PatchCore ensembles lose under it
#: (0.836 -> 0.820 on 4 categories, seed 0), and the other models are not measured under it.
AUTO_SCORE_RULE = {ModelName.PADIM: ScoreRule.Z_COVERAGE}


def default_layers(model: ModelName, backbone: str) -> tuple[str, ...]:
    """Feature layers used by ``model`` on ``backbone`` unless the user names others."""
    return _LAYERS[backbone][model]


@dataclass(frozen=True)
class TrainConfig:
    """Everything ``edgekit train`` needs; validated on construction.

    Args:
        data: Dataset category folder (MVTec layout).
        out: Run folder to write.
        model: Model held by each tile position.
        image_size: Frames are resized to this size before tiling: N (N x N) or ``(H, W)``.
        tile_size: Tile size: N or ``(H, W)``.
        stride: Step between tiles: N or ``(H, W)``.
        backbone: Pretrained backbone (timm name).
        weights: Local backbone state dict, for backbones not shipped offline.
        layers: Trunk layers to read; empty means the model's default for the backbone.
        n_features: PaDiM: features kept per patch (random subset, as anomalib does). 50 by measurement
            (benchmarks/train_compare.py, coffee 512 px, blocks.2+4): pixel AUPRO 0.989 as at 100,
            with 10 MiB of inverse covariances per position instead of 39.5.
        cov_reg: PaDiM: added to each patch covariance's diagonal before it is inverted. anomalib's
            0.01 by measurement (benchmarks/README.md, ``map_sigma.py`` on 10 wide categories): 0.1
            lifts logo's ensemble (image AUROC 0.941 -> 0.969) but costs the textures' image AUROC
            (stars 0.575 -> 0.475, grass 0.637 -> 0.550) and astronaut 0.048 AUPRO, and it lifts
            single@full as much as the ensemble.
        cov_pool: PaDiM: each patch's covariance pooled over its ``(2R+1) x (2R+1)`` neighbour patches,
            each about its own mean (0 = off, anomalib's). Measured off by default (benchmarks/README.md,
            "Covariances pooled over neighbouring patches"): R=1 costs aligned scenes 0.024-0.030 AUPRO;
            it lifts single models on textures.
        padim_embedding: PaDiM: how ``n_features`` are made from the trunk's channels: ``subset``
            (anomalib's random subset of channels) or ``orthogonal`` (a random semi-orthogonal
            projection of all channels, Kim et al. 2021).
        coreset_ratio: PatchCore: fraction of patch features kept in each memory bank.
        num_neighbors: PatchCore: neighbours for the score reweighting.
        epochs: Training epochs for the trained models (STFPM, FastFlow, RD); 0 = model default.
        batch_size: Training images per step (each gives N tiles).
        lr: Learning rate override for the trained models (None = anomalib's).
        seed: Seed for every random draw (feature subset, coreset start, init, shuffling).
        tiling: Where the frozen trunk runs: ``image`` (on every tile), ``features`` (once on the
            whole frame; each position reads its region of the feature maps) or ``auto``
            (:func:`edgekit.train.ensemble.auto_tiling`: ``features`` for PaDiM where image tiling's
            per-position Gaussians would pass 1 GiB, as at 5 MP; else ``image``).
        trunk_runtime: What computes the frozen trunk's features while training: ``torch``,
            ``openvino`` (converted once, f32; several times faster on a CPU) or ``auto`` (OpenVINO
            where the job's trunk input is large; see :mod:`edgekit.train.ov_trunk`).
        val_split: Where validation images come from.
        val_data: The validation folder for ``validation`` (default: found next to the data).
        val_ratio: Fraction of good training images held out when ``val_split`` is ``from_train``.
        normal_quantile: Quantile of normal validation scores used as threshold without anomalies.
        score_rule: How the image score is taken from the joined map; ``auto`` (the default) is
            ``z_coverage`` for PaDiM and ``max`` for the other models (:data:`AUTO_SCORE_RULE`).
        join_weights: How overlapping tile maps are weighted when joined (``uniform`` or ``taper``).
        join_order: Where tile maps are joined: ``frame`` (feature resolution, one upsample and blur per
            frame), ``tile`` (anomalib's order: each tile upsampled and blurred, then joined) or ``auto``
            (``frame`` where the model and grid allow it). See benchmarks/README.md for the measurement.
        seam_width: Half-width in pixels of the band around interior tile edges that is blurred after
            the join (0 = off).
        seam_sigma: Gaussian sigma of that blur, in pixels.
        progress: Show progress bars.
    """

    data: Path
    out: Path
    model: ModelName = ModelName.PADIM
    image_size: int | tuple[int, int] = 512
    tile_size: int | tuple[int, int] = 256
    stride: int | tuple[int, int] = 128
    backbone: str = "efficientnet_lite0"
    weights: Path | None = None
    layers: tuple[str, ...] = ()
    n_features: int = 50
    cov_reg: float = 0.01
    cov_pool: int = 0
    padim_embedding: str = PADIM_EMBEDDINGS[0]
    coreset_ratio: float = 0.01
    num_neighbors: int = 9
    epochs: int = 0
    batch_size: int = 4
    lr: float | None = None
    seed: int = 0
    val_split: ValSplit = ValSplit.AUTO
    val_data: Path | None = None
    val_ratio: float = 0.2
    normal_quantile: float = 0.99
    score_rule: ScoreRule | str = "auto"
    join_weights: JoinWeights = JoinWeights.UNIFORM
    join_order: str = "auto"
    tiling: str = "auto"
    seam_width: int = 0
    seam_sigma: float = 2.0
    trunk_runtime: str = "auto"
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            model = ModelName(self.model)
        except ValueError:
            msg = f"unknown model {self.model!r}; accepted: {', '.join(m.value for m in ModelName)}"
            raise ConfigError(msg) from None
        object.__setattr__(self, "model", model)
        if self.backbone not in _LAYERS:
            msg = f"unknown backbone {self.backbone!r}; accepted: {', '.join(_LAYERS)}"
            raise ConfigError(msg)
        object.__setattr__(self, "val_split", _choice(ValSplit, self.val_split, "val_split"))
        if self.score_rule == "auto":  # measured per model: benchmarks/README.md, "The frame score by coverage group"
            object.__setattr__(self, "score_rule", AUTO_SCORE_RULE.get(model, ScoreRule.MAX))
        object.__setattr__(self, "score_rule", _choice(ScoreRule, self.score_rule, "score_rule"))
        object.__setattr__(self, "join_weights", _choice(JoinWeights, self.join_weights, "join_weights"))
        self.grid  # noqa: B018 - validates image, tile and stride sizes together
        checks = [
            (self.n_features >= 1, "n_features", self.n_features, ">= 1"),
            (self.cov_reg > 0, "cov_reg", self.cov_reg, "> 0"),
            (self.cov_pool >= 0, "cov_pool", self.cov_pool, ">= 0 (0 = off)"),
            (
                self.padim_embedding in PADIM_EMBEDDINGS,
                "padim_embedding",
                self.padim_embedding,
                ", ".join(PADIM_EMBEDDINGS),
            ),
            (0 < self.coreset_ratio <= 1, "coreset_ratio", self.coreset_ratio, "0 < ratio <= 1"),
            (self.num_neighbors >= 1, "num_neighbors", self.num_neighbors, ">= 1"),
            (self.epochs >= 0, "epochs", self.epochs, ">= 0 (0 = the model's default)"),
            (self.batch_size >= 1, "batch_size", self.batch_size, ">= 1"),
            (self.lr is None or self.lr > 0, "lr", self.lr, "> 0"),
            (0 < self.val_ratio < 1, "val_ratio", self.val_ratio, "0 < ratio < 1"),
            (0.5 <= self.normal_quantile <= 1, "normal_quantile", self.normal_quantile, "0.5 <= q <= 1"),
            (
                self.join_order in ("auto", *(o.value for o in JoinOrder)),
                "join_order",
                self.join_order,
                "auto, frame, tile",
            ),
            (
                isinstance(self.seam_width, int) and 0 <= self.seam_width <= min(self.grid.tile_hw) // 2,
                "seam_width",
                self.seam_width,
                f"0 (off) to {min(self.grid.tile_hw) // 2} pixels",
            ),
            (0 < self.seam_sigma <= 32, "seam_sigma", self.seam_sigma, "0 < sigma <= 32 pixels"),
            (self.tiling in ("auto", "image", "features"), "tiling", self.tiling, "auto, image, features"),
            (
                self.trunk_runtime in ("auto", "torch", "openvino"),
                "trunk_runtime",
                self.trunk_runtime,
                "auto, torch, openvino",
            ),
        ]
        for ok, name, value, accepted in checks:
            if not ok:
                msg = f"{name} {value!r} is out of range; accepted: {accepted}"
                raise ConfigError(msg)
        if not self.layers:
            object.__setattr__(self, "layers", default_layers(model, self.backbone))
        else:
            object.__setattr__(self, "layers", tuple(self.layers))
        if self.epochs == 0:
            object.__setattr__(self, "epochs", _DEFAULT_EPOCHS[model])

    @property
    def grid(self) -> TileGrid:
        """The tile grid of this configuration."""
        return TileGrid(self.image_size, self.tile_size, self.stride)

    def with_changes(self, **changes: Any) -> TrainConfig:
        """A copy with some fields replaced (and validated again)."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            msg = f"unknown training options {sorted(unknown)}; accepted: {sorted(known)}"
            raise ConfigError(msg)
        return replace(self, **changes)

    def model_options(self) -> dict[str, Any]:
        """The options that shape the tile models and their thresholds, for the training record.

        ``weights`` and the validation options are kept so that a run can be retrained the same way
        (``edgekit evaluate --baselines`` trains its single models with them).
        """
        return {
            "layers": list(self.layers),
            "n_features": self.n_features,
            "cov_reg": self.cov_reg,
            "cov_pool": self.cov_pool,
            "padim_embedding": self.padim_embedding,
            "coreset_ratio": self.coreset_ratio,
            "num_neighbors": self.num_neighbors,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "seed": self.seed,
            "weights": str(Path(self.weights).resolve()) if self.weights is not None else None,
            "val_split": self.val_split.value,
            "val_data": str(Path(self.val_data).resolve()) if self.val_data is not None else None,
            "val_ratio": self.val_ratio,
            "normal_quantile": self.normal_quantile,
            "join_weights": self.join_weights.value,
            "join_order": self.join_order,
            "tiling": self.tiling,
            "seam_width": self.seam_width,
            "seam_sigma": self.seam_sigma,
        }
