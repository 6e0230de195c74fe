"""TrainConfig: defaults per model, validation as one-line errors, the options kept in the record."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgekit.cli.train import command as train_command
from edgekit.errors import ConfigError
from edgekit.tiling import ScoreRule, TileGrid
from edgekit.train.backbones import SUPPORTED_BACKBONES
from edgekit.train.config import ModelName, TrainConfig, ValSplit, default_layers


def _config(**changes: object) -> TrainConfig:
    return TrainConfig(data=Path("data"), out=Path("run"), **changes)


def _one_line(info: pytest.ExceptionInfo) -> str:
    text = str(info.value)
    assert "\n" not in text
    return text


def test_defaults_are_the_embedded_3x3_padim() -> None:
    config = _config()
    assert config.model is ModelName.PADIM
    assert config.grid == TileGrid(512, 256, 128)
    assert config.grid.n_tiles == 9
    assert config.layers == ("blocks.2", "blocks.4")
    assert config.epochs == 1
    assert config.val_split is ValSplit.AUTO
    assert config.score_rule is ScoreRule.Z_COVERAGE  # auto, for PaDiM
    assert _config(model="patchcore").score_rule is ScoreRule.MAX  # auto, for the other models
    assert _config(model="patchcore", score_rule="z_coverage").score_rule is ScoreRule.Z_COVERAGE


@pytest.mark.parametrize(("model", "epochs"), [("padim", 1), ("patchcore", 1), ("stfpm", 20), ("fastflow", 20)])
def test_model_defaults(model: str, epochs: int) -> None:
    config = _config(model=model)
    assert config.model == model
    assert config.epochs == epochs
    assert config.layers == default_layers(ModelName(model), "efficientnet_lite0")
    assert _config(model=model, epochs=3).epochs == 3


def test_layers_follow_the_backbone_unless_given() -> None:
    assert _config(backbone="resnet18").layers == ("layer1", "layer2", "layer3")
    assert _config(model="patchcore", backbone="resnet18").layers == ("layer2", "layer3")
    assert _config(layers=["blocks.1", "blocks.2"]).layers == ("blocks.1", "blocks.2")


def test_unknown_model_and_backbone_list_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as info:
        _config(model="padimm")
    text = _one_line(info)
    assert "'padimm'" in text and all(m.value in text for m in ModelName)
    with pytest.raises(ConfigError) as info:
        _config(backbone="vit_tiny")
    text = _one_line(info)
    assert "'vit_tiny'" in text and all(name in text for name in SUPPORTED_BACKBONES)


@pytest.mark.parametrize("backbone", ["efficientnet_lite1", "efficientnet_lite2"])
def test_efficientnet_lite1_lite2_take_the_lite0_layers(backbone: str) -> None:
    for model in ModelName:
        assert _config(model=model, backbone=backbone).layers == default_layers(model, "efficientnet_lite0")


def test_config_and_cli_accept_every_supported_backbone() -> None:
    for name in SUPPORTED_BACKBONES:
        assert _config(backbone=name).backbone == name
    option = next(p for p in train_command.params if p.name == "backbone")
    assert tuple(option.type.choices) == SUPPORTED_BACKBONES


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"tile_size": 300, "image_size": 256}, "tile_hw (300, 300) is larger than image_hw (256, 256)"),
        ({"stride": 300}, "stride_hw (300, 300) is larger than tile_hw (256, 256)"),
        ({"stride": 0}, "stride_hw must be positive"),
        ({"n_features": 0}, "n_features 0 is out of range"),
        ({"cov_pool": -1}, "cov_pool -1 is out of range"),
        ({"coreset_ratio": 0.0}, "coreset_ratio 0.0 is out of range"),
        ({"coreset_ratio": 1.5}, "coreset_ratio 1.5 is out of range"),
        ({"epochs": -1}, "epochs -1 is out of range"),
        ({"batch_size": 0}, "batch_size 0 is out of range"),
        ({"lr": 0.0}, "lr 0.0 is out of range"),
        ({"val_ratio": 1.0}, "val_ratio 1.0 is out of range"),
        ({"normal_quantile": 0.2}, "normal_quantile 0.2 is out of range"),
    ],
)
def test_bad_values_are_one_line_errors(changes: dict, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        _config(**changes)
    assert needle in _one_line(info)


def test_bad_choices_are_one_line_errors_listing_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as info:
        _config(val_split="from_test")
    assert "'from_test'" in _one_line(info) and "auto, validation, from_train, same_as_test" in str(info.value)
    with pytest.raises(ConfigError) as info:
        _config(score_rule="mean")
    assert "max, mean_of_tile_max" in _one_line(info)


def test_with_changes_validates_again_and_refuses_unknown_options() -> None:
    config = _config(image_size=128, tile_size=64, stride=64)
    assert config.with_changes(stride=32).grid.n_tiles == 9
    with pytest.raises(ConfigError, match="stride_hw"):
        config.with_changes(stride=128)
    with pytest.raises(ConfigError) as info:
        config.with_changes(tile=32)
    assert "'tile'" in _one_line(info)


def test_model_options_keep_what_a_retrain_needs(tmp_path: Path) -> None:
    weights = tmp_path / "r18.safetensors"
    config = _config(backbone="resnet18", weights=weights, val_split="from_train", normal_quantile=0.97)
    options = config.model_options()
    assert options["weights"] == str(weights.resolve())
    assert options["val_split"] == "from_train"
    assert options["normal_quantile"] == 0.97
    assert options["layers"] == ["layer1", "layer2", "layer3"]
    assert _config().model_options()["weights"] is None
