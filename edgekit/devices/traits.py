"""What each OpenVINO device family needs: one table, looked up by family.

Device quirks live here and only here. Code elsewhere asks ``traits(name).requires_static_shapes``
instead of testing ``"NPU" in name``, so a new device family is one new table row.

Facts behind the rows (OpenVINO 2026.4):

* CPU: no device id (``CPU.0`` is rejected by the plugin). Its default ``INFERENCE_PRECISION_HINT``
  is ``bf16`` on CPUs with BF16 (AVX-512 BF16 / AMX) and ``f32`` elsewhere; an ``f16`` hint is turned
  into ``bf16`` there. It can cache compiled blobs (``EXPORT_IMPORT`` capability) but compiles in
  well under a second even for a 1.5 GB PaDiM head, so a cache only costs disk space.
* GPU: ``f16`` by default; the first compile builds OpenCL kernels and takes seconds, a
  ``CACHE_DIR`` makes later starts fast. ``GPU`` means ``GPU.0``.
* NPU: static shapes only; compiling can take minutes, so cache it. ``AUTO`` never picks the NPU
  unless it is named (``AUTO:NPU,CPU``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

logger = logging.getLogger(__name__)


class Precision(StrEnum):
    """Values OpenVINO accepts for ``INFERENCE_PRECISION_HINT``."""

    F32 = "f32"
    BF16 = "bf16"
    F16 = "f16"


@dataclass(frozen=True)
class DeviceTraits:
    """How a device family behaves, as far as edgekit's runtime and export care.

    Attributes:
        family (str): Device family, e.g. ``"GPU"`` for ``GPU.1``.
        requires_static_shapes (bool): The device compiles only fully static input shapes.
        preferred_precision (Precision): Inference precision the device runs best at (and, for the
            known families, its OpenVINO default).
        supports_compile_cache (bool): OpenVINO can cache compiled blobs for it (``CACHE_DIR``).
        cache_recommended (bool): Compiling is slow enough that a ``CACHE_DIR`` pays off.
        supports_batching (bool): A batch dimension > 1 runs in one request (static on NPU).
        included_in_auto (bool): Plain ``AUTO`` may select the device without it being named.
        first_compile_slow (bool): The first compile of a model takes seconds to minutes.
        note (str): One line for humans about the device's quirks.
        memory_property (str | None): Property holding the device's total memory in bytes.
        capability_precisions (tuple[tuple[str, Precision], ...]): ``(capability, precision)``
            pairs, in order of preference, that replace ``preferred_precision`` when the device
            reports the capability (a BF16 CPU prefers ``bf16``).
    """

    family: str
    requires_static_shapes: bool = False
    preferred_precision: Precision = Precision.F32
    supports_compile_cache: bool = False
    cache_recommended: bool = False
    supports_batching: bool = True
    included_in_auto: bool = True
    first_compile_slow: bool = False
    note: str = ""
    memory_property: str | None = None
    capability_precisions: tuple[tuple[str, Precision], ...] = ()

    def to_dict(self) -> dict[str, object]:
        """Machine-readable form with stable keys (``capability_precisions`` left out).

        Returns:
            A JSON-serialisable dict.
        """
        return {
            "family": self.family,
            "requires_static_shapes": self.requires_static_shapes,
            "preferred_precision": str(self.preferred_precision),
            "supports_compile_cache": self.supports_compile_cache,
            "cache_recommended": self.cache_recommended,
            "supports_batching": self.supports_batching,
            "included_in_auto": self.included_in_auto,
            "first_compile_slow": self.first_compile_slow,
            "note": self.note,
        }


_TABLE: dict[str, DeviceTraits] = {
    "CPU": DeviceTraits(
        family="CPU",
        preferred_precision=Precision.F32,
        capability_precisions=(("BF16", Precision.BF16),),
        supports_compile_cache=True,
        cache_recommended=False,
        note="compiles in about a second; bf16 by default where the CPU has BF16",
    ),
    "GPU": DeviceTraits(
        family="GPU",
        preferred_precision=Precision.F16,
        supports_compile_cache=True,
        cache_recommended=True,
        first_compile_slow=True,
        note="f16 by default; the first compile builds kernels (seconds): use a compile cache",
        memory_property="GPU_DEVICE_TOTAL_MEM_SIZE",
    ),
    "NPU": DeviceTraits(
        family="NPU",
        requires_static_shapes=True,
        preferred_precision=Precision.F16,
        supports_compile_cache=True,
        cache_recommended=True,
        included_in_auto=False,
        first_compile_slow=True,
        note="static shapes only; compiling can take minutes: use a compile cache; AUTO needs it named",
        memory_property="NPU_DEVICE_TOTAL_MEM_SIZE",
    ),
}


#: Frames per call that ``--batch auto`` allows at most, per family. CPU: 1, by measurement
#: (benchmarks/streams.py, 3x3 INT8 PaDiM on 512 px, 2 cores): 4 streams in one process ran at the
#: same aggregate frames/s with 1 frame per call as with 4 (the default head's MatMul is ~2.5 ms per
#: frame, so there is little to amortize) while every frame of batch added ~130 MB of activations
#: (peak RSS 378 MB at B=1, 776 MB at B=4). GPU and NPU gain from batching (NPU pads short calls
#: to its static batch, so it stays moderate).
_AUTO_BATCH_MAX = {"CPU": 1, "GPU": 8, "NPU": 4, "AUTO": 1, "MULTI": 4, "HETERO": 1}


def auto_batch(device: str, n_streams: int) -> int:
    """Frames per call for ``--batch auto``: one per stream, up to the family's limit (1 for one stream).

    Args:
        device: The device name.
        n_streams: The number of sources.

    Returns:
        The batch size B >= 1.
    """
    return max(1, min(int(n_streams), _AUTO_BATCH_MAX.get(family(device), 1)))


def family(device: str) -> str:
    """Device family of a device name: the part before the ``.id`` and the ``:list``.

    Args:
        device: A device name such as ``"GPU.1"``, ``"NPU"`` or ``"AUTO:GPU,CPU"``.

    Returns:
        The upper-case family, e.g. ``"GPU"``, ``"NPU"`` or ``"AUTO"``.
    """
    return device.strip().split(":", 1)[0].split(".", 1)[0].upper()


def known_families() -> tuple[str, ...]:
    """Families with a row in the traits table.

    Returns:
        The family names, e.g. ``("CPU", "GPU", "NPU")``.
    """
    return tuple(_TABLE)


def traits(device: str, capabilities: Iterable[str] = ()) -> DeviceTraits:
    """Traits of a device, looked up by its family.

    Args:
        device: A device name (``"CPU"``, ``"GPU.1"``, ``"NPU"``) or family.
        capabilities: The device's ``OPTIMIZATION_CAPABILITIES``; they refine the preferred
            precision (``BF16`` makes a CPU prefer ``bf16``).

    Returns:
        The family's traits. A family without a row (a plugin edgekit does not know) gets
        conservative defaults: dynamic shapes, ``f32``, no cache.
    """
    fam = family(device)
    entry = _TABLE.get(fam)
    if entry is None:
        logger.debug("no traits for device family %r: using defaults", fam)
        return DeviceTraits(family=fam)
    caps = {c.upper() for c in capabilities}
    for capability, precision in entry.capability_precisions:
        if capability in caps:
            return replace(entry, preferred_precision=precision)
    return entry
