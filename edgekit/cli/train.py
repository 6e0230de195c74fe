"""``edgekit train``: train a tiled ensemble of anomalib models on an MVTec-layout folder."""

from __future__ import annotations

from pathlib import Path

import click

from edgekit.cli._table import fmt, format_rows
from edgekit.tiling import ScoreRule
from edgekit.train.config import PADIM_EMBEDDINGS, TrainConfig

_MODELS = ("padim", "patchcore", "stfpm", "fastflow", "reverse_distillation")
_BACKBONES = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "resnet18", "wide_resnet50_2")


@click.command("train")
@click.option("--data", type=click.Path(path_type=Path), required=True, help="Dataset folder ROOT/CATEGORY.")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True, help="Run folder.")
@click.option("--model", type=click.Choice(_MODELS), default="padim", show_default=True)
@click.option(
    "--image-size", default="512", show_default=True, help="Frames are resized to this: N (N x N) or WxH (2448x2048)."
)
@click.option("--tile-size", default="256", show_default=True, help="Tile size: N or WxH.")
@click.option("--stride", default="128", show_default=True, help="Step between tiles: N or WxH.")
@click.option("--backbone", type=click.Choice(_BACKBONES), default=TrainConfig.backbone, show_default=True)
@click.option("--weights", type=click.Path(path_type=Path, dir_okay=False), help="Local backbone state dict.")
@click.option("--layers", help="Comma-separated trunk layers (default: the model's choice for the backbone).")
@click.option(
    "--n-features", type=int, default=TrainConfig.n_features, show_default=True, help="PaDiM features per patch."
)
@click.option(
    "--cov-reg",
    type=float,
    default=TrainConfig.cov_reg,
    show_default=True,
    help="PaDiM: added to each patch covariance's diagonal before inverting (anomalib: 0.01).",
)
@click.option(
    "--cov-pool",
    type=int,
    default=TrainConfig.cov_pool,
    show_default=True,
    help="PaDiM: each patch's covariance pooled over its (2R+1)x(2R+1) neighbour patches, each about its own "
    "mean (0 = off, anomalib's).",
)
@click.option(
    "--padim-embedding",
    type=click.Choice(PADIM_EMBEDDINGS),
    default=TrainConfig.padim_embedding,
    show_default=True,
    help="PaDiM: n_features as a random subset of the trunk's channels (anomalib's) or a random "
    "semi-orthogonal projection of all of them.",
)
@click.option(
    "--coreset-ratio", type=float, default=TrainConfig.coreset_ratio, show_default=True, help="PatchCore memory kept."
)
@click.option("--epochs", type=int, default=TrainConfig.epochs, help="Epochs for STFPM/FastFlow/RD [default: model's].")
@click.option("--batch-size", type=int, default=TrainConfig.batch_size, show_default=True, help="Images per step.")
@click.option(
    "--val-split",
    type=click.Choice(["auto", "validation", "from_train", "same_as_test"]),
    default=TrainConfig.val_split.value,
    show_default=True,
    help="Images the thresholds are fitted on. auto: the data set's held-out validation folder "
    "(ROOT/validation/CATEGORY), else held-out good training images; same_as_test: the test split, "
    "anomalib's default (optimistic F1).",
)
@click.option(
    "--val-data",
    type=click.Path(path_type=Path, file_okay=False),
    help="Validation folder (test/<good|kind>, ground_truth/<kind>) for --val-split validation/auto.",
)
@click.option(
    "--join",
    "join_weights",
    type=click.Choice(["uniform", "taper"]),
    default=TrainConfig.join_weights.value,
    show_default=True,
    help="Overlap weighting when tile maps are joined.",
)
@click.option(
    "--tiling",
    type=click.Choice(["auto", "image", "features"]),
    default=TrainConfig.tiling,
    show_default=True,
    help="Where the frozen trunk runs: image (on every tile, anomalib's way) or features (once on the whole "
    "frame; each position reads its region of the feature maps: no overlap recomputed, no padding seams). "
    "auto: features for PaDiM where image tiling's Gaussians would pass 1 GiB (e.g. 5 MP frames), else image.",
)
@click.option(
    "--trunk-runtime",
    type=click.Choice(["auto", "torch", "openvino"]),
    default=TrainConfig.trunk_runtime,
    show_default=True,
    help="What computes the frozen trunk's features while training: auto uses OpenVINO (converted once, f32, "
    "several times faster on a CPU) where the job's trunk input passes 100 MP, e.g. 5 MP frames.",
)
@click.option(
    "--join-order",
    type=click.Choice(["auto", "frame", "tile"]),
    default=TrainConfig.join_order,
    show_default=True,
    help="frame: join at feature resolution, one upsample and blur per frame; tile: anomalib's per-tile order; "
    "auto: frame where the model and grid allow it.",
)
@click.option(
    "--score",
    "score_rule",
    type=click.Choice(["auto", *(r.value for r in ScoreRule)]),
    default="auto",
    show_default=True,
    help="Frame score from the joined map. auto: z_coverage for PaDiM, max for the other models (measured: "
    "benchmarks/README.md). max: its maximum; z_coverage: per group of pixels covered by the "
    "same number of tiles, the maximum's distance in MADs from the frame's own median there and from good "
    "validation frames' median there, the largest (one model's noise in the corners is not compared with a "
    "four-view average in the centre, and a frame anomalous everywhere stays anomalous); "
    "mean_of_tile_max: anomalib's tiled-ensemble rule.",
)
@click.option(
    "--seam-width",
    type=int,
    default=TrainConfig.seam_width,
    show_default=True,
    help="Blur this many pixels around seams.",
)
@click.option("--seed", type=int, default=TrainConfig.seed, show_default=True)
@click.option("--no-progress", is_flag=True, help="Hide progress bars.")
def command(
    data: Path,
    out: Path,
    model: str,
    image_size: str,
    tile_size: str,
    stride: str,
    backbone: str,
    weights: Path | None,
    layers: str | None,
    n_features: int,
    cov_reg: float,
    cov_pool: int,
    padim_embedding: str,
    coreset_ratio: float,
    epochs: int,
    batch_size: int,
    val_split: str,
    val_data: Path | None,
    join_weights: str,
    join_order: str,
    score_rule: str,
    tiling: str,
    trunk_runtime: str,
    seam_width: int,
    seed: int,
    no_progress: bool,
) -> None:
    """Train one anomalib model per tile position, sharing one frozen trunk, and write RUN."""
    from edgekit.tiling import parse_size
    from edgekit.train.fit import WEAK_SEPARATION_AUROC, train, weak_separation

    config = TrainConfig(
        data=data,
        out=out,
        model=model,
        image_size=parse_size(image_size, "--image-size"),
        tile_size=parse_size(tile_size, "--tile-size"),
        stride=parse_size(stride, "--stride"),
        backbone=backbone,
        weights=weights,
        layers=tuple(s.strip() for s in layers.split(",") if s.strip()) if layers else (),
        n_features=n_features,
        cov_reg=cov_reg,
        cov_pool=cov_pool,
        padim_embedding=padim_embedding,
        coreset_ratio=coreset_ratio,
        epochs=epochs,
        batch_size=batch_size,
        val_split=val_split,
        val_data=val_data,
        join_weights=join_weights,
        join_order=join_order,
        score_rule=score_rule,
        tiling=tiling,
        trunk_runtime=trunk_runtime,
        seam_width=seam_width,
        seed=seed,
        progress=not no_progress,
    )
    record = train(config).record
    t = record.thresholds
    skipped = record.data["skipped"]
    state = f"{max(record.position_state_bytes) / 2**20:.1f} MiB/position"
    if record.shared is not None:  # fitted once per frame location, not per position
        state = f"{record.shared.bytes / 2**20:.1f} MiB shared"
    click.echo(
        format_rows(
            [
                ("run", "model", "backbone", "grid", "train imgs", "head state", "train s", "peak RSS"),
                (
                    out,
                    record.model,
                    record.backbone,
                    record.grid,
                    record.data["n_train"],
                    state,
                    fmt(record.timing["total_s"], 1),
                    f"{record.timing['peak_rss_mb']:.0f} MiB",
                ),
            ]
        )
    )
    click.echo(f"thresholds: image {t.image_threshold:.4g}, pixel {t.pixel_threshold:.4g} ({t.detail})")
    if record.data.get("val_image_auroc") is not None:
        val_auroc = record.data["val_image_auroc"]
        weak = f", under {WEAK_SEPARATION_AUROC}: weak separation" if weak_separation(val_auroc) else ""
        click.echo(f"validation: image AUROC {val_auroc:.3f} ({record.data['val_source']}{weak})")
    click.echo(f"join: {record.graph['join'].get('why', record.graph['join']['order'])}")
    if skipped:
        click.echo(
            f"skipped {len(skipped)} unreadable file(s), first: {skipped[0][0]}; "
            f"all listed in {out}/training.json (data.skipped)"
        )
