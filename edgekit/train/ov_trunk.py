"""The frozen trunk on OpenVINO while training large jobs: the same features, several times faster.

Every model family reads the frozen pretrained trunk without gradients, and in torch on a CPU that
trunk is the training cost at high resolution: EfficientNet-Lite0 up to ``blocks.4`` takes 14 s per
2448x2048 frame on one thread, so 64 frames take 15 minutes with ``--tiling features`` and about an
hour with image tiling (285 tiles per frame). The same trunk converted to OpenVINO (f32, so the
features match torch to about 1e-4) takes 2.3 s per frame and 1.2 s per 32 tiles of 256, against
7.6 s in torch (same machine, one thread, load about 4). Converting it costs about 40 s, so it is
used where the job's trunk input passes :data:`AUTO_PIXELS` (a 3x3 grid on 512 px frames, 60
images, is 34 MP and stays in torch; 60 frames at 2448x2048 are 287 MP), or when asked for.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from edgekit._extras import require
from edgekit.errors import ConfigError
from edgekit.train.families.base import Family, Features

torch = require("torch", "train")
logger = logging.getLogger(__name__)

#: Trunk input pixels of a job above which ``auto`` converts the trunk to OpenVINO.
AUTO_PIXELS = 100 * 2**20
CHOICES = ("auto", "torch", "openvino")


class _Features(torch.nn.Module):
    """``family.features(trunk, x)`` as a module with a tuple output (what conversion needs)."""

    def __init__(self, family: Family, trunk: torch.nn.Module) -> None:
        super().__init__()
        self.trunk = trunk
        object.__setattr__(self, "_family", family)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self._family.features(self.trunk, x).values())


class OpenVinoTrunk:
    """A family's trunk features computed by OpenVINO on the CPU (dynamic batch and size, f32).

    Args:
        family: The model family (its ``features`` is what is converted).
        trunk: The frozen trunk.
    """

    def __init__(self, family: Family, trunk: torch.nn.Module) -> None:
        ov = require("openvino", "train")
        module = _Features(family, trunk).eval()
        example = torch.zeros(1, 3, 64, 64)
        with torch.no_grad():
            self.names = list(family.features(trunk, example))
            model = ov.convert_model(module, example_input=example, input=[ov.PartialShape([-1, 3, -1, -1])])
        config = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
        self.compiled = ov.Core().compile_model(model, "CPU", config)
        self.request = self.compiled.create_infer_request()

    def __call__(self, x: torch.Tensor) -> Features:
        """The features of ``[M, 3, h, w]`` normalized inputs, as torch tensors (copies)."""
        self.request.infer({0: np.ascontiguousarray(x.detach().numpy(), dtype=np.float32)})
        return {
            name: torch.from_numpy(self.request.get_output_tensor(i).data.copy()) for i, name in enumerate(self.names)
        }


def trunk_pixels(grid: Any, tiling: str, frames: int) -> int:
    """Input pixels the trunk sees for ``frames`` frames: whole frames, or every tile of each."""
    if tiling == "features":
        return frames * grid.image_hw[0] * grid.image_hw[1]
    return frames * grid.n_tiles * grid.tile_hw[0] * grid.tile_hw[1]


def choose(wanted: str, pixels: int) -> tuple[str, str]:
    """The trunk runtime for a job of ``pixels`` trunk input pixels, and why.

    Raises:
        ConfigError: ``wanted`` is not one of :data:`CHOICES`.
    """
    if wanted not in CHOICES:
        msg = f"trunk runtime {wanted!r} is not known; accepted: {', '.join(CHOICES)}"
        raise ConfigError(msg)
    mp = pixels / 2**20
    if wanted != "auto":
        return wanted, f"{wanted} asked for ({mp:.0f} MP of trunk input)"
    if pixels > AUTO_PIXELS:
        return "openvino", f"{mp:.0f} MP of trunk input > {AUTO_PIXELS / 2**20:.0f} MP: converted once, then faster"
    return "torch", f"{mp:.0f} MP of trunk input <= {AUTO_PIXELS / 2**20:.0f} MP: not worth converting"


def attach(ensemble: Any, wanted: str, frames: int) -> str:
    """Run ``ensemble``'s trunk on OpenVINO where :func:`choose` says so; the sentence for the record."""
    runtime, why = choose(wanted, trunk_pixels(ensemble.grid, ensemble.tiling, frames))
    ensemble.trunk_runner = OpenVinoTrunk(ensemble.family, ensemble.trunk) if runtime == "openvino" else None
    logger.info("trunk: %s", why)
    return f"{runtime}: {why}"
