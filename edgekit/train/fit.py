"""``edgekit train``: fit or train every tile position from one pass of the shared trunk per batch.

Each training image is decoded once, resized once, tiled once; the batch of all its tiles goes
through the frozen trunk once and every position reads its own slice (anomalib's tiled ensemble
decodes and tiles each image once per position and runs N backbones).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from edgekit._extras import require
from edgekit.artifacts.record import Thresholds, TrainingRecord
from edgekit.data import load_split, scan_dataset
from edgekit.data.mvtec import LoadedSplit, scan_validation, validation_folder
from edgekit.errors import ConfigError, DataError
from edgekit.evaluation import auroc, fit_thresholds
from edgekit.perf import peak_rss_mb
from edgekit.tiling import ScoreRule, coverage_groups, coverage_z, fit_coverage_reference
from edgekit.train import ov_trunk
from edgekit.train.backbones import packaged_source
from edgekit.train.config import TrainConfig, ValSplit
from edgekit.train.ensemble import TiledEnsemble, feature_tiling_problem, to_input
from edgekit.train.graph import resolve_join_order
from edgekit.train.infer import predict_frames
from edgekit.train.run_io import check_out, save_run

torch = require("torch", "train")
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced.

    Attributes:
        run: The run folder.
        record: The training record written there.
        ensemble: The trained ensemble (in memory).
    """

    run: Path
    record: TrainingRecord
    ensemble: TiledEnsemble


def _fit_frame(ensemble: TiledEnsemble, config: TrainConfig, images: np.ndarray) -> None:
    """State fitted once per frame location (PaDiM with ``--tiling features``): the trunk on whole frames."""
    family, model = ensemble.family, ensemble.positions[0]
    acc = None
    bar = tqdm(total=len(images), desc="features", unit="img", disable=not config.progress, leave=False)
    with torch.no_grad():
        for start in range(0, len(images), config.batch_size):
            full = ensemble.trunk_features(to_input(images[start : start + config.batch_size]))
            if acc is None:
                acc = family.frame_accumulator(model, full)
            family.frame_observe(acc, model, full)
            bar.update(min(config.batch_size, len(images) - start))
    bar.close()
    ensemble.shared = family.frame_finish(acc)


def _fit(ensemble: TiledEnsemble, config: TrainConfig, images: np.ndarray) -> None:
    """Fitted models (PaDiM, PatchCore): one trunk pass per batch of frames, then each position's fit."""
    if ensemble.fits_per_frame_location:
        _fit_frame(ensemble, config, images)
        return
    family = ensemble.family
    family.begin(len(images), ensemble.n_positions)
    bar = tqdm(total=len(images), desc="features", unit="img", disable=not config.progress, leave=False)
    for start in range(0, len(images), config.batch_size):
        feats, x = ensemble.position_inputs(to_input(images[start : start + config.batch_size]))
        with torch.no_grad():
            for p, model in enumerate(ensemble.positions):
                f, t = ensemble.slice_position(feats, x, p)
                family.observe(model, f, t)
        bar.update(min(config.batch_size, len(images) - start))
    bar.close()
    for model in tqdm(ensemble.positions, desc="fit", unit="pos", disable=not config.progress, leave=False):
        family.finish(model)


def _train(ensemble: TiledEnsemble, config: TrainConfig, images: np.ndarray) -> None:
    """Trained models (STFPM, FastFlow, RD): per batch of frames one trunk pass, one step per position."""
    family = ensemble.family
    optimizers = [family.make_optimizer(model) for model in ensemble.positions]
    rng = np.random.default_rng(config.seed)
    steps = -(-len(images) // config.batch_size)
    bar = tqdm(total=config.epochs * steps, desc="train", unit="step", disable=not config.progress, leave=False)
    for epoch in range(config.epochs):
        order = rng.permutation(len(images))
        losses = []
        for start in range(0, len(images), config.batch_size):
            feats, x = ensemble.position_inputs(to_input(images[order[start : start + config.batch_size]]))
            for p, (model, opt) in enumerate(zip(ensemble.positions, optimizers, strict=True)):
                model.train()
                f, t = ensemble.slice_position(feats, x, p)
                opt.zero_grad(set_to_none=True)
                loss = family.loss(model, f, t)
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{np.mean(losses):.4f}")
        logger.info("epoch %d/%d: mean loss %.5f", epoch + 1, config.epochs, float(np.mean(losses)))
    bar.close()
    ensemble.eval()


def _hold_out(config: TrainConfig, train: LoadedSplit) -> tuple[LoadedSplit, LoadedSplit, str] | None:
    """Hold out ``val_ratio`` of the good training images; None if fewer than 2 would remain to fit."""
    n_val = max(1, round(len(train.images) * config.val_ratio))
    if len(train.images) - n_val < 2:
        return None
    order = np.random.default_rng(config.seed).permutation(len(train.images))
    val_idx, fit_idx = np.sort(order[:n_val]), np.sort(order[n_val:])

    def subset(idx: np.ndarray) -> LoadedSplit:
        return LoadedSplit(
            images=train.images[idx],
            labels=train.labels[idx],
            masks=train.masks[idx],
            samples=tuple(train.samples[i] for i in idx),
        )

    return subset(fit_idx), subset(val_idx), f"{n_val} good training images held out (from_train)"


def _validation_folder(config: TrainConfig) -> Path | None:
    """The held-out validation folder: ``--val-data``, else the one found next to the data (or None)."""
    return Path(config.val_data) if config.val_data is not None else validation_folder(Path(config.data))


def _validation(
    config: TrainConfig, train: LoadedSplit, load_test: Callable[[], LoadedSplit | None]
) -> tuple[LoadedSplit, LoadedSplit, str, ValSplit]:
    """Split off the validation set: (fit split, validation split, source sentence, the split used).

    Raises:
        DataError: The asked-for validation images do not exist, or too few training images remain.
    """
    grid, wanted = config.grid, config.val_split
    folder = _validation_folder(config)
    if wanted is ValSplit.VALIDATION or (wanted is ValSplit.AUTO and folder is not None):
        if folder is None:
            data = Path(config.data)
            msg = (
                f"--val-split validation: no validation folder for {data} (looked for "
                f"{data.parent / 'validation' / data.name} and {data / 'validation'}); "
                "accepted: --val-data DIR, or --val-split auto|from_train|same_as_test"
            )
            raise DataError(msg)
        split = load_split(scan_validation(folder), grid.image_hw, min_hw=grid.tile_hw, what="validation split")
        source = f"{len(split.images)} held-out validation images from {folder} ({int(split.labels.sum())} anomalous)"
        return train, split, source, ValSplit.VALIDATION
    test = load_test() if wanted is ValSplit.SAME_AS_TEST else None
    if test is not None:
        return train, test, "the test split (anomalib's same_as_test: optimistic)", ValSplit.SAME_AS_TEST
    held = _hold_out(config, train)
    if held is not None:
        return (*held, ValSplit.FROM_TRAIN)
    test = load_test() if wanted is ValSplit.AUTO else None
    if wanted is ValSplit.AUTO and test is not None:
        logger.warning(
            "only %d training images: too few to hold any out; thresholds are fitted on the TEST split "
            "(--val-split same_as_test), so test F1 is optimistic",
            len(train.images),
        )
        source = f"the test split: only {len(train.images)} training images, too few to hold out (same_as_test)"
        return train, test, source, ValSplit.SAME_AS_TEST
    msg = (
        f"only {len(train.images)} readable training images: too few to hold out validation images "
        "and still fit; add images, give --val-data DIR, or use --val-split same_as_test with a test folder"
    )
    raise DataError(msg)


def train(config: TrainConfig) -> TrainResult:
    """Train a tiled ensemble and write its run folder.

    Args:
        config: The training configuration.

    Returns:
        The run folder, its record and the ensemble.

    Raises:
        DataError: Unusable dataset.
        ConfigError: Invalid options.
    """
    t0 = time.perf_counter()
    check_out(config.out)  # before the work: save_run replaces the whole folder
    grid = config.grid
    dataset = scan_dataset(config.data)
    image_hw = grid.image_hw
    train_split = load_split(dataset.train, image_hw, min_hw=grid.tile_hw, what="train split")
    test_split: list[LoadedSplit] = []  # read only where thresholds come from it (5 MP test frames are GBs)

    def load_test() -> LoadedSplit | None:
        if dataset.test and not test_split:
            test_split.append(load_split(dataset.test, image_hw, min_hw=grid.tile_hw, what="test split"))
        return test_split[0] if test_split else None

    fit_split, val_split, val_source, val_used = _validation(config, train_split, load_test)
    logger.info("thresholds from %s", val_source)
    if val_split.labels.sum() == 0:
        logger.warning("validation has no anomalies: thresholds fall back to the normal-score quantile")
    torch.manual_seed(config.seed)
    ensemble = TiledEnsemble.build(config)
    t_build = time.perf_counter()
    if config.tiling == "auto":
        logger.info("tiling: %s", ensemble.tiling_why)
    if ensemble.tiling == "features" and config.tiling != "auto":  # auto resolves to features only once it is buildable
        problem = feature_tiling_problem(ensemble)
        if problem is not None:
            msg = f"--tiling features cannot be built: {problem}; accepted here: --tiling image"
            raise ConfigError(msg)
    frames = len(fit_split.images) * (config.epochs if ensemble.family.trained else 1) + len(val_split.images)
    trunk_runtime = ov_trunk.attach(ensemble, config.trunk_runtime, frames)
    if ensemble.family.trained:
        _train(ensemble, config, fit_split.images)
    else:
        _fit(ensemble, config, fit_split.images)
    ensemble.eval()
    # the training frames are no longer needed: at 5 MP, 60 of them are about 1 GB
    n_train, skipped, conversions = len(fit_split.images), list(train_split.skipped), train_split.conversions
    del fit_split, train_split
    order, why = resolve_join_order(ensemble, config.join_order, config.score_rule)
    ensemble.join = {**ensemble.join, "order": order.value, "why": why}
    logger.info("join: %s", why)
    t_fit = time.perf_counter()
    preds = predict_frames(ensemble, val_split.images, progress=config.progress, desc="validate")
    scores = preds.scores
    if config.score_rule is ScoreRule.Z_COVERAGE:
        scores = _fit_z_reference(ensemble, preds.maps, val_split.labels)
    thresholds: Thresholds = fit_thresholds(
        scores, val_split.labels, preds.maps, val_split.masks, config.normal_quantile, val_source
    )
    val_auroc = validation_auroc(scores, val_split.labels)
    t_val = time.perf_counter()
    data = {
        "root": str(Path(config.data).resolve()),
        "n_train": n_train,
        "n_val": len(val_split.images),
        "val_source": val_source,
        "val_split": val_used.value,
        "val_folder": str(Path(_validation_folder(config)).resolve()) if val_used is ValSplit.VALIDATION else None,
        "val_split_asked": config.val_split.value,
        "val_files": [str(sample.path) for sample in val_split.samples],
        "skipped": [list(s) for s in [*skipped, *(test_split[0].skipped if test_split else ())]],
        "conversions": conversions,
        "trunk_runtime": trunk_runtime,
        "val_image_auroc": val_auroc,
    }
    timing = {
        "build_s": round(t_build - t0, 3),
        "fit_s": round(t_fit - t_build, 3),
        "validate_s": round(t_val - t_fit, 3),
        "total_s": round(time.perf_counter() - t0, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    source = _backbone_source(config)
    record = save_run(ensemble, config, thresholds, backbone_source=source, data=data, timing=timing)
    return TrainResult(run=Path(config.out), record=record, ensemble=ensemble)


#: Below this image AUROC on the validation images, training warns that the model barely separates defective
#: frames from good ones. Under the default frame score the wide set's aligned and multi-object categories score
#: 0.98-1.00 on their test splits (mean of three seeds), its stationary textures 0.51-0.53 (six seeds; README.md,
#: "What detection quality to expect"); 13-14 validation images move the figure by about 0.08, so the line sits
#: well between the two.
WEAK_SEPARATION_AUROC = 0.8


def weak_separation(val_image_auroc: float) -> bool:
    """Whether a recorded validation image AUROC is under the line: the warning and the summary's mark."""
    return val_image_auroc < WEAK_SEPARATION_AUROC


def validation_auroc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """Image AUROC of the validation frames' scores (None without both classes); warns when it is weak."""
    labels = np.asarray(labels)
    value = auroc(np.asarray(scores, np.float64), labels)
    if np.isnan(value):  # one class only: nothing to separate
        return None
    value = round(value, 6)  # the figure recorded: the warning and the summary judge the same value
    defective = int(labels.sum())
    logger.info("validation image AUROC %.3f on %d frames (%d defective)", value, labels.size, defective)
    if weak_separation(value):
        logger.warning(
            "validation image AUROC is %.3f on %d frames (%d defective), under %.2f: this model barely separates "
            "defective frames from good ones on this data, and thresholds fitted on it will not hold; another "
            "--model may do better, but no model measured holds textures cut at random offsets (README.md, "
            "'What detection quality to expect')",
            value, labels.size, defective, WEAK_SEPARATION_AUROC,
        )
    return value


def _fit_z_reference(ensemble: TiledEnsemble, maps: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Fit ``z_coverage``'s reference on the good validation maps, keep it in the join, score the maps by it.

    The maps do not depend on the score rule, so the validation pass that fits the reference also gives
    the scores the thresholds are fitted on: the numpy rule (the graph's equal, tested) with the reference.
    """
    groups = coverage_groups(ensemble.grid, single=ensemble.frame_level)
    good = maps[labels == 0] if (labels == 0).any() else maps
    reference = fit_coverage_reference(good, groups)
    ensemble.join = {**ensemble.join, "z_reference": [list(pair) for pair in reference]}
    logger.info("z_coverage reference (median, MAD per coverage group): %s", reference)
    return np.array([coverage_z(m, groups, reference) for m in maps], dtype=np.float32)


def _backbone_source(config: TrainConfig) -> str:
    if config.weights is not None:
        return f"local file {config.weights}"
    return packaged_source(config.backbone) or "timm hub weights"
