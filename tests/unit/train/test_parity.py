"""One ensemble position gives the map anomalib's own model gives, trained on the same tiles.

The reference is built the documented way (``PadimModel`` / ``PatchcoreModel`` with
``pre_trained=False``, the same backbone weights loaded with ``load_into_features_only``, the same
seed), trained on exactly the tiles of one position and run in eval mode: ``model(x).anomaly_map``.
The ensemble shares one trunk across positions and runs it once per batch of all tiles.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("anomalib")

from anomalib.models.image.padim.torch_model import PadimModel  # noqa: E402
from anomalib.models.image.patchcore.torch_model import PatchcoreModel  # noqa: E402

from edgekit.tiling import tile  # noqa: E402
from edgekit.train.backbones import load_into_features_only  # noqa: E402
from edgekit.train.config import TrainConfig  # noqa: E402
from edgekit.train.ensemble import TiledEnsemble, to_input  # noqa: E402
from edgekit.train.fit import _fit  # noqa: E402 - the exact fitting pass of `edgekit train`

# Tolerances: the ensemble's trunk sees a batch of all positions' tiles, the reference one
# position's tiles, and oneDNN's convolutions differ with the batch size in the last float bits
# (measured: the same 6 tiles in a batch of 36 vs alone give features up to 3e-5 apart). PaDiM's
# inverse covariance, fitted from 6 samples of 50 features (near-singular, regularized), amplifies
# that: measured map differences up to 1.1e-4 relative. PatchCore: up to 3e-6 relative.
PADIM_RTOL, PATCHCORE_RTOL = 1e-3, 1e-4
IMAGE, TILE = 64, 32


def _tiles(config, images):
    """The frames' tiles ``[M, N, T, T, 3]``, as the references see them."""
    return np.stack([tile(config.grid, img) for img in images])


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def frames() -> tuple[np.ndarray, np.ndarray]:
    """Textured uint8 BGR frames: 6 to train on, 2 to test (one with a dark blotch)."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:IMAGE, 0:IMAGE]
    base = 120 + 30 * np.sin(xx / 5.0) * np.cos(yy / 7.0)
    images = []
    for _ in range(8):
        img = base[..., None] + rng.normal(0, 12, (IMAGE, IMAGE, 3))
        images.append(np.clip(img, 0, 255).astype(np.uint8))
    images[7][40:52, 10:22] = 20
    stack = np.stack(images)
    return stack[:6], stack[6:]


def _config(model: str, **changes: object) -> TrainConfig:
    return TrainConfig(
        data=Path("unused"), out=Path("unused"), model=model, image_size=IMAGE, tile_size=TILE, stride=TILE // 2,
        batch_size=4, progress=False, **changes,
    )


def _ensemble_maps(config: TrainConfig, train: np.ndarray, test: np.ndarray) -> tuple[TiledEnsemble, ...]:
    torch.manual_seed(config.seed)
    ensemble = TiledEnsemble.build(config)
    _fit(ensemble, config, train)
    maps, scores = ensemble.predict_tiles(_tiles(config, test))
    return ensemble, maps, scores


def _assert_close(got: np.ndarray, want: np.ndarray, rtol: float) -> None:
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * 1e-2 * float(np.abs(want).max()))


@pytest.fixture(scope="module")
def padim_case(frames: tuple) -> tuple:
    config = _config("padim", n_features=50, cov_reg=0.01)  # anomalib's ridge, pinned whatever the default
    return (config, *_ensemble_maps(config, *frames))


@pytest.mark.parametrize("position", [0, 4, 8])
def test_padim_position_matches_anomalib_padim(frames: tuple, padim_case: tuple, position: int) -> None:
    train, test = frames
    config, ensemble, maps, scores = padim_case
    assert ensemble.n_positions == 9

    torch.manual_seed(config.seed)  # the seed PadimFamily uses, so `idx` (the feature subset) matches
    ref = PadimModel(backbone=config.backbone, layers=list(config.layers), pre_trained=False, n_features=50)
    load_into_features_only(ref.feature_extractor, config.backbone)
    assert torch.equal(ref.idx, ensemble.positions[position].idx)
    ref.train()
    ref(to_input(_tiles(config, train)[:, position]))
    ref.fit()
    ref.eval()
    with torch.no_grad():
        out = ref(to_input(_tiles(config, test)[:, position]))
    want = out.anomaly_map[:, 0].numpy()
    assert want.shape == (2, TILE, TILE)
    _assert_close(maps[:, position], want, PADIM_RTOL)
    _assert_close(scores[:, position], out.pred_score.reshape(-1).numpy(), PADIM_RTOL)
    assert not np.allclose(maps[:, position], maps[:, (position + 1) % 9])  # positions really differ


def test_patchcore_position_matches_anomalib_patchcore(frames: tuple) -> None:
    train, test = frames
    config = _config("patchcore", coreset_ratio=0.1, num_neighbors=3)
    ensemble, maps, scores = _ensemble_maps(config, train, test)
    position = 5

    ref = PatchcoreModel(layers=list(config.layers), backbone=config.backbone, pre_trained=False, num_neighbors=3)
    load_into_features_only(ref.feature_extractor, config.backbone)
    ref.train()
    ref(to_input(_tiles(config, train)[:, position]))
    # anomalib's coreset draws from torch's RNG and (its random projection) numpy's global RNG
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    ref.subsample_embedding(config.coreset_ratio)
    ref.eval()
    # same coreset: the same feature vectors picked in the same order (float noise only)
    torch.testing.assert_close(ensemble.positions[position].memory_bank, ref.memory_bank, rtol=1e-4, atol=1e-4)
    with torch.no_grad():
        out = ref(to_input(_tiles(config, test)[:, position]))
    _assert_close(maps[:, position], out.anomaly_map[:, 0].numpy(), PATCHCORE_RTOL)
    _assert_close(scores[:, position], out.pred_score.reshape(-1).numpy(), PATCHCORE_RTOL)


def test_patchcore_coreset_is_reproducible_and_leaves_numpy_alone(frames: tuple) -> None:
    train, _ = frames
    config = _config("patchcore", coreset_ratio=0.1)
    banks, draws = [], []
    for outside_seed in (1, 2):
        np.random.seed(outside_seed)
        ensemble = TiledEnsemble.build(config)
        _fit(ensemble, config, train)
        banks.append([m.memory_bank.clone() for m in ensemble.positions])
        draws.append(np.random.random())  # the caller's numpy stream goes on where it was
        np.random.seed(outside_seed)
        assert draws[-1] == np.random.random()
    assert all(torch.equal(a, b) for a, b in zip(*banks, strict=True))
