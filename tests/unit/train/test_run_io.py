"""Run folder helpers that need no training: the output guard, the record -> config round trip, val split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("anomalib")

from edgekit.artifacts.record import FileEntry, Thresholds, TrainingRecord
from edgekit.data.mvtec import LoadedSplit, Sample
from edgekit.errors import ArtifactError, DataError
from edgekit.train.config import TrainConfig, ValSplit
from edgekit.train.fit import _validation
from edgekit.train.run_io import check_out, config_from_record


def test_check_out_accepts_new_empty_and_earlier_runs(tmp_path: Path) -> None:
    check_out(tmp_path / "new")
    (tmp_path / "empty").mkdir()
    check_out(tmp_path / "empty")
    run = tmp_path / "run"
    run.mkdir()
    (run / "training.json").write_text("{}")
    (run / "positions").mkdir()
    check_out(run)


def test_check_out_refuses_what_a_run_would_destroy(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "train" / "good").mkdir(parents=True)
    with pytest.raises(ArtifactError) as info:
        check_out(data)
    text = str(info.value)
    assert "\n" not in text and str(data) in text and "not an edgekit run folder" in text
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    with pytest.raises(ArtifactError):
        check_out(a_file)


def _record(options: dict) -> TrainingRecord:
    entry = FileEntry(path="trunk.safetensors", sha256="0" * 64, bytes=1)
    config = TrainConfig(data=Path("d"), out=Path("r"), image_size=128, tile_size=64, stride=32)
    return TrainingRecord(
        model="padim",
        backbone="resnet18",
        backbone_source="local file",
        grid=config.grid,
        score_rule="mean_of_tile_max",
        options=options,
        trunk=entry,
        positions=(entry,) * 9,
        position_state_bytes=(1,) * 9,
        thresholds=Thresholds(1.0, 1.0, 0.0, 2.0, 0.0, 2.0, "normal_quantile", "x"),
        data={"root": "/somewhere/data"},
        versions={},
        timing={},
        created_utc="2026-01-01T00:00:00+00:00",
    )


def test_config_from_record_rebuilds_the_training_config(tmp_path: Path) -> None:
    weights = tmp_path / "r18.safetensors"
    original = TrainConfig(
        data=Path("/somewhere/data"), out=Path("r"), image_size=128, tile_size=64, stride=32, backbone="resnet18",
        weights=weights, n_features=77, cov_reg=0.5, seed=5, val_split="from_train", val_ratio=0.3, normal_quantile=0.9,
        score_rule="mean_of_tile_max",
    )
    config = config_from_record(_record(original.model_options()), tmp_path / "run")
    assert config.out == tmp_path / "run"
    assert config.grid == original.grid
    assert config.weights == weights.resolve()
    assert config.val_split is ValSplit.FROM_TRAIN and config.val_ratio == 0.3 and config.normal_quantile == 0.9
    assert config.model_options() == original.model_options()
    assert config.score_rule == "mean_of_tile_max"
    older = {k: v for k, v in original.model_options().items() if k != "cov_reg"}  # a run from before --cov-reg
    assert config_from_record(_record(older), tmp_path / "run").cov_reg == 0.01  # what it was fitted with


def test_config_from_an_older_record_without_the_new_options(tmp_path: Path) -> None:
    options = TrainConfig(data=Path("d"), out=Path("r")).model_options()
    for key in ("weights", "val_split", "val_ratio", "normal_quantile"):
        del options[key]
    config = config_from_record(_record(options), tmp_path)
    assert config.weights is None and config.val_split is ValSplit.SAME_AS_TEST


def _split(n: int, anomalous: int = 0) -> LoadedSplit:
    labels = np.array([0] * (n - anomalous) + [1] * anomalous, np.int64)
    return LoadedSplit(
        images=np.zeros((n, 8, 8, 3), np.uint8),
        labels=labels,
        masks=np.zeros((n, 8, 8), np.uint8),
        samples=tuple(Sample(Path(f"{i}.png"), "good" if lab == 0 else "hole") for i, lab in enumerate(labels)),
    )


def _never_read() -> LoadedSplit:
    msg = "the test split was read although the thresholds do not come from it"
    raise AssertionError(msg)


def test_validation_is_the_test_split_only_when_asked() -> None:
    config = TrainConfig(data=Path("d"), out=Path("r"), val_split="same_as_test")
    train, test = _split(6), _split(4, anomalous=2)
    fit_split, val, source, used = _validation(config, train, lambda: test)
    assert fit_split is train and val is test and "same_as_test" in source and used is ValSplit.SAME_AS_TEST


def test_by_default_thresholds_never_see_the_test_images_where_training_images_can_be_held_out() -> None:
    config = TrainConfig(data=Path("d"), out=Path("r"))  # auto, and no validation folder next to "d"
    train, test = _split(8), _split(4, anomalous=2)
    _, val, source, used = _validation(config, train, _never_read)  # 5 MP test frames are GBs: not read
    assert used is ValSplit.FROM_TRAIN and val is not test and len(val.labels) == 2 and "held out" in source
    # too few training images to hold any out: the test split, said in the source
    _, val, source, used = _validation(config, _split(2), lambda: test)
    assert used is ValSplit.SAME_AS_TEST and val is test and "too few to hold out" in source


def test_validation_from_train_holds_out_good_images() -> None:
    config = TrainConfig(data=Path("d"), out=Path("r"), val_split="from_train", val_ratio=0.25)
    fit_split, val, source, used = _validation(config, _split(8), _never_read)
    assert len(fit_split.labels) == 6 and len(val.labels) == 2 and used is ValSplit.FROM_TRAIN
    assert not {s.path for s in fit_split.samples} & {s.path for s in val.samples}
    assert source == "2 good training images held out (from_train)"
    # no test split at all: held out from train with the default val_split
    _, val, _, _ = _validation(TrainConfig(data=Path("d"), out=Path("r")), _split(8), lambda: None)
    assert len(val.labels) == 2


def _write_validation(folder: Path) -> Path:
    import cv2

    for kind, n in (("good", 3), ("crack", 2)):
        (folder / "test" / kind).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            cv2.imwrite(str(folder / "test" / kind / f"{i:03d}.png"), np.full((16, 16, 3), 100 + i, np.uint8))
            if kind != "good":
                (folder / "ground_truth" / kind).mkdir(parents=True, exist_ok=True)
                mask = np.zeros((16, 16), np.uint8)
                mask[4:8, 4:8] = 255
                cv2.imwrite(str(folder / "ground_truth" / kind / f"{i:03d}_mask.png"), mask)
    return folder


def test_auto_uses_the_data_sets_held_out_validation_folder(tmp_path: Path) -> None:
    data = tmp_path / "set" / "cat"
    data.mkdir(parents=True)
    _write_validation(tmp_path / "set" / "validation" / "cat")
    config = TrainConfig(data=data, out=tmp_path / "r", image_size=16, tile_size=8, stride=8)
    train = _split(6)
    fit_split, val, source, used = _validation(config, train, _never_read)
    assert used is ValSplit.VALIDATION and fit_split is train
    assert len(val.labels) == 5 and int(val.labels.sum()) == 2 and int(val.masks.sum()) > 0
    assert "5 held-out validation images" in source and "2 anomalous" in source


def test_an_explicit_validation_split_without_a_folder_is_one_line(tmp_path: Path) -> None:
    config = TrainConfig(data=tmp_path / "cat", out=tmp_path / "r", val_split="validation")
    with pytest.raises(DataError) as info:
        _validation(config, _split(6), _never_read)
    text = str(info.value)
    assert "\n" not in text and "no validation folder" in text and "--val-data" in text


def test_validation_from_too_few_images_is_one_line() -> None:
    config = TrainConfig(data=Path("d"), out=Path("r"), val_split="from_train")
    with pytest.raises(DataError) as info:
        _validation(config, _split(2), lambda: None)
    text = str(info.value)
    assert "\n" not in text and "only 2 readable training images" in text and "same_as_test" in text
