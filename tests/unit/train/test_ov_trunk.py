"""The frozen trunk on OpenVINO while training: the same features as torch, chosen by the job's size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgekit.errors import ConfigError  # noqa: E402
from edgekit.train import ov_trunk  # noqa: E402
from edgekit.train.config import TrainConfig  # noqa: E402
from edgekit.train.ensemble import TiledEnsemble, to_input  # noqa: E402
from edgekit.train.fit import _fit  # noqa: E402
from edgekit.train.infer import predict_frames  # noqa: E402


def _config(**changes: object) -> TrainConfig:
    base: dict[str, object] = {"image_size": 64, "tile_size": 32, "stride": 16, "progress": False}
    return TrainConfig(data=Path("unused"), out=Path("unused"), **{**base, **changes})


def _frames(n: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (n, 64, 64, 3), dtype=np.uint8)


@pytest.mark.parametrize("model", ["padim", "fastflow"])
def test_openvino_features_equal_torchs_for_any_batch_and_size(model: str) -> None:
    ensemble = TiledEnsemble.build(_config(model=model))
    runner = ov_trunk.OpenVinoTrunk(ensemble.family, ensemble.trunk)
    for x in (to_input(_frames(3)), to_input(_frames(5)[:, :32, :48])):  # whole frames, then another size
        with torch.no_grad():
            want = ensemble.family.features(ensemble.trunk, x)
        got = runner(x)
        assert list(got) == list(want)
        for name, value in want.items():
            assert got[name].shape == value.shape
            torch.testing.assert_close(got[name], value, rtol=1e-3, atol=1e-3)


def test_a_padim_fit_with_the_openvino_trunk_gives_the_torch_model() -> None:
    frames, test = _frames(6), _frames(8)[6:]
    results = []
    for runtime in ("torch", "openvino"):
        config = _config(trunk_runtime=runtime)
        ensemble = TiledEnsemble.build(config)
        sentence = ov_trunk.attach(ensemble, config.trunk_runtime, len(frames))
        assert sentence.startswith(f"{runtime}: {runtime} asked for")
        assert (ensemble.trunk_runner is not None) == (runtime == "openvino")
        _fit(ensemble, config, frames)
        results.append(predict_frames(ensemble, test))
    np.testing.assert_allclose(results[0].maps, results[1].maps, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(results[0].scores, results[1].scores, rtol=1e-3)


def test_auto_converts_only_large_jobs_and_says_why() -> None:
    small = _config(image_size=512, tile_size=256, stride=128)  # 3x3 tiles of 256
    assert ov_trunk.trunk_pixels(small.grid, "image", 60) == 60 * 9 * 256 * 256
    runtime, why = ov_trunk.choose("auto", ov_trunk.trunk_pixels(small.grid, "image", 60))
    assert runtime == "torch" and "34 MP" in why and "not worth converting" in why
    big = _config(image_size=(2048, 2448), tile_size=256, stride=128, tiling="features")
    runtime, why = ov_trunk.choose("auto", ov_trunk.trunk_pixels(big.grid, "features", 60))
    assert runtime == "openvino" and "287 MP" in why
    with pytest.raises(ConfigError, match="trunk runtime 'tpu' is not known; accepted: auto, torch, openvino"):
        ov_trunk.choose("tpu", 1)
    with pytest.raises(ConfigError, match="trunk_runtime 'tpu' is out of range"):
        _config(trunk_runtime="tpu")
