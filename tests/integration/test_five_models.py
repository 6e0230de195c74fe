"""Every model family trains, saves, reloads and evaluates end to end on tiny data.

2x2 tiles of 32 px on 64 px frames, one epoch, 8 training images: a smoke test of the whole path
(the known-answer checks of the metrics are in test_known_answers.py).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import Result

from edgekit.data import load_split, scan_dataset

pytest.importorskip("anomalib")

from edgekit.evaluation import METRIC_KEYS
from edgekit.train.config import TrainConfig
from edgekit.train.fit import train
from edgekit.train.infer import predict_frames
from edgekit.train.run_io import config_from_record, load_run

IMAGE, TILE = 64, 32

MODELS = [
    pytest.param("padim", id="padim"),
    pytest.param("patchcore", id="patchcore"),
    pytest.param("stfpm", id="stfpm", marks=pytest.mark.slow),
    pytest.param("fastflow", id="fastflow", marks=pytest.mark.slow),
    pytest.param("reverse_distillation", id="reverse_distillation", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("model", MODELS)
def test_model_trains_reloads_and_evaluates(
    model: str,
    known_data: Path,
    resnet18_weights: Path,
    tmp_path: Path,
    edgekit: Callable[[list[object]], Result],
) -> None:
    options: dict[str, object] = {}
    if model == "patchcore":
        options["coreset_ratio"] = 0.1  # the default 0.01 keeps 1 of 128 patches at this size
    if model == "reverse_distillation":  # anomalib's RD decoder exists for ResNets only
        options.update(backbone="resnet18", weights=resnet18_weights)
    config = TrainConfig(
        data=known_data,
        out=tmp_path / "run",
        model=model,
        image_size=IMAGE,
        tile_size=TILE,
        stride=TILE,
        epochs=1,
        batch_size=8,
        progress=False,
        **options,
    )
    result = train(config)

    record = result.record
    assert record.model == model
    assert record.grid.n_tiles == 4
    assert len(record.positions) == 4
    assert record.options["epochs"] == 1
    assert all(size > 0 for size in record.position_state_bytes)

    # the run folder alone rebuilds the same ensemble: same maps and scores
    test = load_split(scan_dataset(known_data).test, (IMAGE, IMAGE), min_hw=(TILE, TILE))
    before = predict_frames(result.ensemble, test.images[:4])
    reloaded_record, reloaded = load_run(result.run)
    after = predict_frames(reloaded, test.images[:4])
    assert reloaded_record == record
    # rtol: the in-memory ensemble may run an exact rewrite of anomalib's blur (float rounding only)
    np.testing.assert_allclose(after.maps, before.maps, rtol=1e-4, atol=1e-5 * float(np.abs(before.maps).max()))
    np.testing.assert_allclose(after.scores, before.scores, rtol=1e-4)
    if model == "reverse_distillation":  # --baselines retrains with the same local weights
        assert config_from_record(record, result.run).weights == resnet18_weights.resolve()

    metrics_path = tmp_path / "metrics.json"
    cli = edgekit(["evaluate", result.run, "--data", known_data, "--json", metrics_path, "--no-progress"])
    assert cli.exit_code == 0, cli.output
    metrics = json.loads(metrics_path.read_text())
    for key in METRIC_KEYS:
        assert math.isfinite(metrics[key]) and 0.0 <= metrics[key] <= 1.0, (key, metrics[key])
    assert metrics["n_test"] == 10 and metrics["n_anomalous"] == 6
