"""Model families: layer checks, and the bad options anomalib would only report with a traceback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("anomalib")

from edgekit.errors import ConfigError  # noqa: E402
from edgekit.tiling import tile  # noqa: E402
from edgekit.train.backbones import backbone_state_dict  # noqa: E402
from edgekit.train.config import TrainConfig  # noqa: E402
from edgekit.train.ensemble import TiledEnsemble  # noqa: E402
from edgekit.train.families import family_for  # noqa: E402
from edgekit.train.families.base import check_layers, feature_layers, truncate_efficientnet  # noqa: E402
from edgekit.train.fit import _fit  # noqa: E402


def _tiles(config, images):
    """The frames' tiles ``[M, N, T, T, 3]``, as the references see them."""
    return np.stack([tile(config.grid, img) for img in images])


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _config(**changes: object) -> TrainConfig:
    base: dict[str, object] = {"image_size": 64, "tile_size": 32, "stride": 32, "progress": False}
    return TrainConfig(data=Path("unused"), out=Path("unused"), **{**base, **changes})


def _one_line(info: pytest.ExceptionInfo) -> str:
    text = str(info.value)
    assert "\n" not in text
    return text


def test_feature_layers_are_timms_feature_info() -> None:
    assert feature_layers("efficientnet_lite0") == {
        "blocks.0": 16, "blocks.1": 24, "blocks.2": 40, "blocks.4": 112, "blocks.6": 320,
    }
    assert feature_layers("resnet18")["layer3"] == 256


def test_unknown_layer_is_refused_listing_the_valid_ones() -> None:
    check_layers("efficientnet_lite0", ("blocks.2", "blocks.4"))
    with pytest.raises(ConfigError) as info:
        check_layers("efficientnet_lite0", ("blocks.2", "blocks.3"))
    text = _one_line(info)
    assert "'blocks.3'" in text and "blocks.0, blocks.1, blocks.2, blocks.4, blocks.6" in text
    with pytest.raises(ConfigError, match="'layer9'"):
        TiledEnsemble.build(_config(layers=("blocks.2", "layer9")))


def test_padim_n_features_larger_than_the_channels_is_one_line() -> None:
    with pytest.raises(ConfigError) as info:
        family_for(_config(n_features=500))
    text = _one_line(info)
    assert "n_features 500" in text and "accepted: 1 <= n_features <= 152" in text  # 40 + 112 channels
    family_for(_config(n_features=152))


def test_patchcore_ratio_that_keeps_nothing_is_one_line() -> None:
    config = _config(model="patchcore", coreset_ratio=0.001)
    ensemble = TiledEnsemble.build(config)
    frames = np.random.default_rng(0).integers(0, 255, (2, 64, 64, 3), dtype=np.uint8)
    with pytest.raises(ConfigError) as info:
        _fit(ensemble, config, frames)
    text = _one_line(info)
    # 2 frames x (32 / 8)^2 patches per tile at blocks.2 = 32 patch features per position
    assert "coreset_ratio 0.001 keeps none of the 32 patch features" in text
    assert "coreset_ratio >= 0.032" in text
    ok = config.with_changes(coreset_ratio=0.032)
    ensemble = TiledEnsemble.build(ok)
    _fit(ensemble, ok, frames)
    assert ensemble.positions[0].memory_bank.shape[0] == 1


def test_reverse_distillation_needs_a_resnet() -> None:
    with pytest.raises(ConfigError) as info:
        family_for(_config(model="reverse_distillation"))
    text = _one_line(info)
    assert "'efficientnet_lite0'" in text and "resnet18" in text and "--weights" in text


def test_truncate_efficientnet_keeps_blocks_up_to_the_deepest_layer() -> None:
    timm = pytest.importorskip("timm")
    model = timm.create_model("efficientnet_lite0", pretrained=False, features_only=True, out_indices=[2, 3])
    truncate_efficientnet(model, ("blocks.2", "blocks.4"))
    assert len(model.blocks) == 5
    resnet = timm.create_model("resnet18", pretrained=False, features_only=True)
    truncate_efficientnet(resnet, ("layer1",))  # not an EfficientNet: left alone
    assert hasattr(resnet, "layer4")


@pytest.mark.parametrize("model", ["padim", "patchcore", "stfpm", "fastflow"])
def test_positions_share_one_trunk_and_own_only_their_heads(model: str) -> None:
    ensemble = TiledEnsemble.build(_config(model=model))
    family = ensemble.family
    assert ensemble.n_positions == 4
    for position in ensemble.positions:
        assert family.trunk_of(position) is ensemble.trunk
        own = [k for k in position.state_dict() if not k.startswith(family.trunk_prefix())]
        assert own, "a position must own some state"
        assert family.state_bytes(position) > 0
    assert not any(p.requires_grad for p in ensemble.trunk.parameters())
    # untrained heads start as copies of one fresh model (not N backbone builds): the same values; trained
    # ones from their own random weights; every position owns its tensors
    def own(model: torch.nn.Module) -> dict[str, torch.Tensor]:
        return {k: v for k, v in model.state_dict().items() if not k.startswith(family.trunk_prefix())}

    first = own(ensemble.positions[0])
    for position in ensemble.positions[1:]:
        state = own(position)
        assert state.keys() == first.keys()
        if not family.trained:
            assert all(torch.equal(v, first[k]) for k, v in state.items())
        assert all(v.data_ptr() != first[k].data_ptr() for k, v in state.items() if v.numel())
    if model == "padim":  # PaDiM's feature subset is drawn from the run's seed, as a fresh model draws it
        assert torch.equal(ensemble.positions[-1].idx, family.new_model().idx)
    if family.trained:  # an untrained student / flow already gives maps of the right shape
        maps, scores = ensemble.predict_tiles(np.zeros((1, 4, 32, 32, 3), np.uint8))
        assert maps.shape == (1, 4, 32, 32) and scores.shape == (1, 4)


@pytest.mark.parametrize("backbone", ["efficientnet_lite1", "efficientnet_lite2"])
@pytest.mark.parametrize("model", ["padim", "patchcore"])
def test_a_short_fit_on_packaged_lite1_and_lite2(offline_hub: Path, backbone: str, model: str) -> None:
    config = _config(model=model, backbone=backbone, coreset_ratio=0.1)
    ensemble = TiledEnsemble.build(config)
    frames = np.random.default_rng(0).integers(0, 255, (3, 64, 64, 3), dtype=np.uint8)
    _fit(ensemble, config, frames)
    maps, scores = ensemble.predict_tiles(_tiles(config, frames[:1]))
    assert maps.shape == (1, 4, 32, 32) and scores.shape == (1, 4)
    assert np.isfinite(maps).all() and np.isfinite(scores).all()
    want = backbone_state_dict(backbone)  # the shared trunk holds the packaged ImageNet weights
    trunk = ensemble.trunk.feature_extractor.state_dict()
    assert trunk and all(torch.equal(tensor, want[key]) for key, tensor in trunk.items())


def test_patchcore_memory_over_budget_is_thinned_per_batch_and_still_finds_the_defect(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import edgekit.train.families.patchcore as patchcore
    from edgekit.train.infer import predict_frames

    # the map's maximum: z_coverage's reference is fitted by train(), which this test does not run, and a
    # 64 px frame gives its frame-relative term 64 samples
    config = _config(model="patchcore", coreset_ratio=0.1, batch_size=2, score_rule="max")
    rng = np.random.default_rng(0)
    frames = np.clip(rng.normal(120, 20, (8, 64, 64, 3)), 0, 255).astype(np.uint8)
    test = frames[:2].copy()
    test[1, 36:44, 8:16] = 255  # a bright spot
    full = TiledEnsemble.build(config)
    _fit(full, config, frames)
    # 8 frames x 16 patches x 152 dims x 4 B x 4 positions = 311,296 B; a budget of a tenth would keep 10 %,
    # but never less than twice the coreset ratio: 20 %
    monkeypatch.setattr(patchcore, "BANK_BYTES", 311_296 // 10)
    stored = []
    observe = patchcore.PatchcoreFamily.observe

    def spy(self, model, feats, tiles):
        observe(self, model, feats, tiles)
        stored.append(sum(len(e) for e in model.embedding_store))

    monkeypatch.setattr(patchcore.PatchcoreFamily, "observe", spy)
    thinned = TiledEnsemble.build(config)
    with caplog.at_level("INFO", logger=patchcore.__name__):
        _fit(thinned, config, frames)
    assert "thinned by greedy k-center to 20.0 %" in caplog.text
    # per position, batches of 2 frames x 16 patches keep ceil(32 x 0.2) = 7 rows: 7, 14, 21, 28 (not 128)
    assert stored[::4] == [7, 14, 21, 28]
    for a, b in zip(full.positions, thinned.positions, strict=True):  # the coreset is sized by every vector seen
        assert a.memory_bank.shape == b.memory_bank.shape == (12, 152)  # 10 % of 128
    for ensemble in (full, thinned):
        preds = predict_frames(ensemble, test)
        assert preds.scores[1] > preds.scores[0]
        assert preds.maps[1, 36:44, 8:16].mean() > preds.maps[1].mean()


# --- PaDiM's semi-orthogonal embedding (--padim-embedding orthogonal) -------------------------------


def test_orthogonal_embedding_projects_every_channel_on_seeded_orthonormal_directions() -> None:
    config = _config(padim_embedding="orthogonal", n_features=20)
    ensemble = TiledEnsemble.build(config)
    first = ensemble.positions[0]
    proj = first.proj
    assert proj.shape == (20, 152)  # lite0 blocks.2 + blocks.4: 40 + 112 channels
    torch.testing.assert_close(proj @ proj.t(), torch.eye(20), rtol=0, atol=1e-5)
    assert all(torch.equal(m.proj, proj) for m in ensemble.positions)  # one embedding for every position
    again = TiledEnsemble.build(config).positions[0].proj
    other = TiledEnsemble.build(config.with_changes(seed=1)).positions[0].proj
    assert torch.equal(again, proj) and not torch.allclose(other, proj)
    feats = {"blocks.2": torch.randn(2, 40, 8, 8), "blocks.4": torch.randn(2, 112, 4, 4)}
    full = torch.cat([feats["blocks.2"], feats["blocks.4"].repeat_interleave(2, -1).repeat_interleave(2, -2)], 1)
    want = torch.einsum("kc,bchw->bkhw", proj, full)
    torch.testing.assert_close(first.generate_embedding(feats), want, rtol=1e-5, atol=1e-5)
    assert "proj" in first.state_dict()  # saved with the position


def test_orthogonal_ensemble_fits_and_differs_from_the_subset_one() -> None:
    frames = np.random.default_rng(0).integers(0, 255, (4, 64, 64, 3), dtype=np.uint8)
    states = []
    for embedding in ("subset", "orthogonal"):
        config = _config(padim_embedding=embedding, n_features=10)
        ensemble = TiledEnsemble.build(config)
        _fit(ensemble, config, frames)
        states.append(ensemble.positions[0].gaussian.mean)
    assert states[0].shape == states[1].shape == (10, 16)  # a 32 px tile: 4x4 patches
    assert not torch.allclose(states[0], states[1])


def test_an_unknown_embedding_is_one_line() -> None:
    with pytest.raises(ConfigError) as info:
        _config(padim_embedding="pca")
    assert "padim_embedding 'pca' is out of range; accepted: subset, orthogonal" in _one_line(info)
