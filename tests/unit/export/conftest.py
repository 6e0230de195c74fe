"""One tiny trained PaDiM run per session and its FP32 and INT8 bundles, shared read-only by the export tests.

Data: the demo coffee scene at 128 px (16 good training images, 4 good and 2 per defect kind in test).
Run: 2x2 tiles of 96 with stride 32 (overlapping), 8 PaDiM features. ``n_features`` is kept below the
number of training images on purpose: with fewer images than features each patch's covariance is singular
and only anomalib's 0.01 * I regularization keeps it invertible, so the inverse amplifies the
trunk's INT8 rounding about 100x and the INT8 check fails for the model's sake, not the export's
(measured on this data, INT8 vs FP32 pixel AUPRO: 3x3 tiles of 64 with 8 images and 20 features -0.15,
with 16 images and 8 features -0.07; these 2x2 tiles of 96 -0.014; the 512 px demo run with 60 images
-0.005). The bigger tiles also keep the trunk's feature maps less dominated by padding.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("anomalib")
pytest.importorskip("nncf")

N_TRAIN = 16
CALIB_ASKED = 2 * N_TRAIN  # more than the training split holds: the export must say so


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Tiny tensors: a second OpenMP thread only spins on a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo coffee category at 128 px (MVTec layout)."""
    from edgekit.demo import generate_demo_data
    from edgekit.demo.summary import DemoCounts

    counts = DemoCounts(train_good=N_TRAIN, test_good=4, per_defect=2, stream_frames=4, stream_defective=1)
    root = tmp_path_factory.mktemp("data")
    generate_demo_data(root / "demo", size=128, categories=["coffee"], counts=counts, progress=False)
    return root / "demo" / "coffee"


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, tiny_data: Path) -> Path:
    """A trained 2x2 PaDiM run folder; read-only (copy it to alter it)."""
    from edgekit.train.config import TrainConfig
    from edgekit.train.fit import train

    out = tmp_path_factory.mktemp("runs") / "padim"
    # thresholds on the test split (anomalib's same_as_test): every training image is fitted, as the
    # counts of these tests assume, and the accuracy check runs on the thresholds' own frames
    config = TrainConfig(
        data=tiny_data,
        out=out,
        image_size=128,
        tile_size=96,
        stride=32,
        n_features=8,
        val_split="same_as_test",
        progress=False,
    )
    return train(config).run


@pytest.fixture(scope="session")
def fp32_bundle(tmp_path_factory: pytest.TempPathFactory, tiny_run: Path) -> Path:
    """The run exported in FP32 through the API; read-only."""
    from edgekit.export.bundle import export_bundle

    return export_bundle(tiny_run, tmp_path_factory.mktemp("bundles") / "fp32", precision="fp32").bundle


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="session")
def int8_export(tmp_path_factory: pytest.TempPathFactory, tiny_run: Path) -> tuple[Path, list[logging.LogRecord]]:
    """The run exported in INT8 with more calibration frames asked than exist; the bundle and the warnings."""
    from edgekit.export.bundle import export_bundle

    handler = _Records()
    log = logging.getLogger("edgekit")
    log.addHandler(handler)
    try:
        out = tmp_path_factory.mktemp("bundles") / "int8"
        result = export_bundle(tiny_run, out, precision="int8", calib_size=CALIB_ASKED)
    finally:
        log.removeHandler(handler)
    return result.bundle, handler.records


@pytest.fixture
def run_copy(tiny_run: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny run that a test may alter."""
    return Path(shutil.copytree(tiny_run, tmp_path / "run"))

