"""``--tiling features``: the trunk once on the whole frame, each position reading its region of the maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgekit.errors import ConfigError  # noqa: E402
from edgekit.train.config import TrainConfig  # noqa: E402
from edgekit.train.ensemble import TiledEnsemble, feature_tiling_problem, to_input  # noqa: E402
from edgekit.train.fit import _fit  # noqa: E402
from edgekit.train.infer import predict_frames  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _config(**changes: object) -> TrainConfig:
    base: dict[str, object] = {"image_size": 64, "tile_size": 32, "stride": 16, "progress": False, "tiling": "features"}
    return TrainConfig(data=Path("unused"), out=Path("unused"), **{**base, **changes})


def _frames(n: int = 3, hw: tuple[int, int] = (64, 64)) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (n, *hw, 3), dtype=np.uint8)


@pytest.mark.parametrize("model", ["padim", "patchcore"])
def test_each_position_reads_its_region_of_the_frames_feature_maps(model: str) -> None:
    config = _config(model=model)
    ensemble = TiledEnsemble.build(config)
    assert ensemble.tiling == "features" and feature_tiling_problem(ensemble) is None
    frames = to_input(_frames(2))
    feats, tiles = ensemble.position_inputs(frames)
    with torch.no_grad():
        full = ensemble.family.features(ensemble.trunk, frames)
        per_tile = ensemble.shared_features(tiles)
    n = ensemble.n_positions
    for name, value in feats.items():
        assert value.shape == per_tile[name].shape  # the heads see what they would see from tiles
        s = 64 // full[name].shape[-2]
        for p, (y0, x0, y1, x1) in enumerate(ensemble.grid.boxes):
            for b in range(2):
                want = full[name][b, :, y0 // s : y1 // s, x0 // s : x1 // s]
                assert torch.equal(value[b * n + p], want)
    # the tiles themselves are the frames' pixels, as in image tiling
    assert torch.equal(tiles[1], frames[0, :, 0:32, 16:48])


def test_with_one_tile_the_two_tilings_are_the_same_model() -> None:
    image = TiledEnsemble.build(_config(tile_size=64, stride=64, tiling="image"))
    features = TiledEnsemble.build(_config(tile_size=64, stride=64))
    frames = _frames(4)
    _fit(image, _config(tile_size=64, stride=64, tiling="image"), frames)
    _fit(features, _config(tile_size=64, stride=64), frames)
    a, b = predict_frames(image, frames), predict_frames(features, frames)
    np.testing.assert_allclose(a.maps, b.maps, rtol=1e-5, atol=1e-5)


def test_fitted_features_ensemble_differs_from_image_tiling_only_through_context() -> None:
    """Across overlapping tiles the two tilings fit different statistics, but rank the same defect first."""
    frames = _frames(6)
    results = {}
    for tiling in ("image", "features"):
        config = _config(tiling=tiling)
        ensemble = TiledEnsemble.build(config)
        _fit(ensemble, config, frames)
        test = frames[:2].copy()
        test[1, 20:26, 40:46] = 0  # a dark spot
        results[tiling] = predict_frames(ensemble, test)
    for preds in results.values():
        assert preds.scores[1] > preds.scores[0]
        spot = np.zeros((64, 64), bool)
        spot[20:26, 40:46] = True
        assert preds.maps[1][spot].mean() > preds.maps[1][~spot].mean()
    assert not np.allclose(results["image"].maps, results["features"].maps)


def test_a_grid_off_the_feature_stride_is_one_clear_refusal(tmp_path: Path) -> None:
    from edgekit.train.fit import train

    config = _config(stride=8)  # tile edges at multiples of 8; blocks.4 has stride 16
    ensemble = TiledEnsemble.build(config)
    problem = feature_tiling_problem(ensemble)
    assert problem is not None and "stride-16" in problem
    data = tmp_path / "cat"
    (data / "train" / "good").mkdir(parents=True)
    import cv2

    for i, frame in enumerate(_frames(4)):
        cv2.imwrite(str(data / "train" / "good" / f"{i}.png"), frame)
    with pytest.raises(ConfigError) as info:
        train(_config(stride=8).with_changes(data=data, out=tmp_path / "run", val_split="from_train"))
    text = str(info.value)
    assert "\n" not in text and "--tiling features cannot be built" in text and "--tiling image" in text
    assert not (tmp_path / "run").exists()


# --- PaDiM fitted once per frame location -------------------------------------------------------


def _fit_per_position(config: TrainConfig, frames: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> TiledEnsemble:
    """The same features-tiling ensemble with every position fitting its own copy of the statistics."""
    from edgekit.train.families.padim import PadimFamily

    with monkeypatch.context() as m:
        m.setattr(PadimFamily, "frame_state", False)
        ensemble = TiledEnsemble.build(config)
        _fit(ensemble, config, frames)
        assert not ensemble.shared and not ensemble.frame_level  # per-position Gaussians, as before
    return ensemble


@pytest.mark.parametrize("order", ["frame", "tile"])
def test_padim_state_is_fitted_once_per_frame_location_with_the_per_position_result(
    order: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config()
    frames, test = _frames(5), _frames(2)[:, ::-1].copy()
    once = TiledEnsemble.build(config)
    _fit(once, config, frames)
    assert once.frame_level and set(once.shared) == {"mean", "inv_covariance"}
    mean, inv = once.shared["mean"], once.shared["inv_covariance"]
    assert mean.shape[-2:] == (8, 8) and inv.shape[:2] == (8, 8)  # one Gaussian per 1/8 frame location
    for model in once.positions:  # the positions keep only their feature subset
        assert model.gaussian.mean.numel() == 0 and model.gaussian.inv_covariance.numel() == 0
    copies = _fit_per_position(config, frames, monkeypatch)
    # every position's own Gaussian is its window of the frame's
    for p, (y0, x0, y1, x1) in enumerate(config.grid.boxes):
        own = copies.positions[p].gaussian
        window = inv[y0 // 8 : y1 // 8, x0 // 8 : x1 // 8].reshape(-1, *inv.shape[-2:])
        torch.testing.assert_close(own.inv_covariance, window, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(own.mean, mean[:, y0 // 8 : y1 // 8, x0 // 8 : x1 // 8].reshape(mean.shape[0], -1))
    for ensemble in (once, copies):
        ensemble.join = {**ensemble.join, "order": order}
    a, b = predict_frames(once, test), predict_frames(copies, test)
    np.testing.assert_allclose(a.maps, b.maps, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-4)


def test_a_frame_level_ensemble_refuses_tile_batches_in_one_line() -> None:
    config = _config()
    ensemble = TiledEnsemble.build(config)
    _fit(ensemble, config, _frames(3))
    with pytest.raises(ValueError, match="predict on whole frames") as info:
        ensemble.predict_tiles(np.zeros((1, ensemble.n_positions, 32, 32, 3), np.uint8))
    assert "\n" not in str(info.value)


def test_the_trunk_in_chunks_gives_the_one_call_result(monkeypatch: pytest.MonkeyPatch) -> None:
    import edgekit.train.ensemble as module

    ensemble = TiledEnsemble.build(_config(tiling="image"))
    x = to_input(_frames(7, (32, 32)))
    whole = ensemble.trunk_features(x)
    monkeypatch.setattr(module, "TRUNK_PIXELS", 2 * 32 * 32)  # 2 tiles per call: 4 calls
    calls = []
    features = ensemble.family.features
    monkeypatch.setattr(ensemble.family, "features", lambda trunk, t: calls.append(len(t)) or features(trunk, t))
    chunked = ensemble.trunk_features(x)
    assert calls == [2, 2, 2, 1]
    for name, value in whole.items():
        torch.testing.assert_close(chunked[name], value)


def test_auto_tiling_is_image_on_small_grids_and_features_where_padim_state_is_large(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import edgekit.train.ensemble as ens

    small = TiledEnsemble.build(_config(tiling="auto"))
    assert small.tiling == "image"
    # 3x3 positions x 4x4 locations x 50 x 51 x 4 B = 367,200 B of Gaussians under image tiling
    assert "in 9 positions, within 1 GiB" in small.tiling_why
    monkeypatch.setattr(ens, "AUTO_FEATURES_STATE_BYTES", 367_200 - 1)
    large = TiledEnsemble.build(_config(tiling="auto"))
    assert large.tiling == "features" and large.tiling_why.startswith("auto: features")
    assert large.fits_per_frame_location
    patchcore = TiledEnsemble.build(_config(tiling="auto", model="patchcore"))
    assert patchcore.tiling == "image" and "PaDiM only" in patchcore.tiling_why
    stated = TiledEnsemble.build(_config(tiling="image"))
    assert stated.tiling == "image" and stated.tiling_why == ""


def test_auto_tiling_stays_image_where_features_cannot_be_built(monkeypatch: pytest.MonkeyPatch) -> None:
    import edgekit.train.ensemble as ens

    monkeypatch.setattr(ens, "AUTO_FEATURES_STATE_BYTES", 0)
    odd = TiledEnsemble.build(_config(tiling="auto", image_size=72, tile_size=40, stride=8))  # off stride 16
    assert odd.tiling == "image"
    assert "features cannot be built (layer blocks.4's feature map" in odd.tiling_why


def test_auto_tiling_stays_image_where_the_tiles_do_not_overlap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without overlap both tilings hold one Gaussian per frame location: nothing to save."""
    import edgekit.train.ensemble as ens

    monkeypatch.setattr(ens, "AUTO_FEATURES_STATE_BYTES", 0)
    flush = TiledEnsemble.build(_config(tiling="auto", stride=32))  # 2x2 tiles of 32 on 64, no overlap
    assert flush.tiling == "image" and "not half" in flush.tiling_why


# --- PaDiM's covariance ridge reaches every fitting path ------------------------------------------


def _inverse_covariances(ensemble: TiledEnsemble) -> list[torch.Tensor]:
    if ensemble.frame_level:
        inv = ensemble.shared["inv_covariance"]
        return [inv.reshape(-1, *inv.shape[-2:])]
    return [model.gaussian.inv_covariance for model in ensemble.positions]


@pytest.mark.parametrize(
    ("tiling", "sizes"),
    [
        ("image", {}),  # per position
        ("features", {}),  # once per frame location
        ("image", {"tile_size": 64, "stride": 64}),  # one tile: single@full
    ],
)
def test_the_covariance_ridge_is_what_each_path_adds_to_the_diagonal(tiling: str, sizes: dict[str, int]) -> None:
    """Fitted with ridges 0.01 and 0.5, the covariances (inverted back) differ by exactly 0.49 * I."""
    frames = _frames(16)  # 16 samples per location for 4 features: well-conditioned covariances
    fitted = []
    for reg in (0.01, 0.5):
        config = _config(tiling=tiling, cov_reg=reg, n_features=4, **sizes)
        ensemble = TiledEnsemble.build(config)
        _fit(ensemble, config, frames)
        assert ensemble.frame_level == (tiling == "features")
        fitted.append(_inverse_covariances(ensemble))
    for small, large in zip(*fitted, strict=True):
        diff = torch.linalg.inv(large.double()) - torch.linalg.inv(small.double())  # [P, C, C]
        eye = torch.eye(diff.shape[-1], dtype=torch.float64).expand_as(diff)
        torch.testing.assert_close(diff, 0.49 * eye, rtol=0, atol=2e-3)


@pytest.mark.parametrize(
    ("tiling", "sizes"),
    [("image", {}), ("features", {}), ("image", {"tile_size": 64, "stride": 64})],
)
def test_covariance_pooling_reaches_each_path(tiling: str, sizes: dict[str, int]) -> None:
    """With --cov-pool 1 each covariance is the mean of its 3x3 neighbours' covariances without pooling."""
    frames = _frames(16)
    fitted = []
    for pool in (0, 1):
        config = _config(tiling=tiling, cov_pool=pool, n_features=4, **sizes)
        ensemble = TiledEnsemble.build(config)
        _fit(ensemble, config, frames)
        fitted.append(_inverse_covariances(ensemble))
    eye = torch.eye(4, dtype=torch.float64)
    for own, pooled in zip(*fitted, strict=True):
        side = round(own.shape[0] ** 0.5)  # square feature grids here
        cov = (torch.linalg.inv(own.double()) - 0.01 * eye).reshape(side, side, 4, 4)
        want = torch.stack(
            [cov[max(0, i - 1) : i + 2, max(0, j - 1) : j + 2].mean((0, 1)) for i in range(side) for j in range(side)]
        )
        got = torch.linalg.inv(pooled.double()) - 0.01 * eye
        torch.testing.assert_close(got, want, rtol=0, atol=2e-3)
