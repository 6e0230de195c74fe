"""Find the inference devices OpenVINO can use on this machine and describe them.

Any object with ``available_devices`` and ``get_property(device, name)`` fits :class:`CoreLike`, so
tests pass a fake core that answers like a machine with CPU, two GPUs and an NPU.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from edgekit.devices.traits import DeviceTraits, traits

logger = logging.getLogger(__name__)

# Capabilities that name a numeric precision, in display order. Others (EXPORT_IMPORT, WINOGRAD,
# GPU_HW_MATMUL, ...) stay in DeviceInfo.capabilities only.
_PRECISIONS = ("FP32", "BF16", "FP16", "INT8", "INT16")


class CoreLike(Protocol):
    """The part of ``openvino.Core`` that device discovery uses."""

    @property
    def available_devices(self) -> Sequence[str]:
        """Names of the devices OpenVINO can use, e.g. ``["CPU", "GPU.0", "NPU"]``."""
        ...

    def get_property(self, device_name: str, name: str, /) -> Any:
        """Value of property ``name`` of a device; raises ``RuntimeError`` if the device lacks it."""
        ...


class DeviceType(StrEnum):
    """Whether a device shares memory with the host (``DEVICE_TYPE``)."""

    INTEGRATED = "integrated"
    DISCRETE = "discrete"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class DeviceInfo:
    """One inference device as OpenVINO reports it.

    Fields the device does not report are ``None`` (or empty).

    Attributes:
        name (str): Device name to compile for, e.g. ``"CPU"``, ``"GPU.0"``, ``"NPU"``.
        full_name (str | None): ``FULL_DEVICE_NAME``, e.g. ``"Intel(R) Arc(TM) A770 Graphics"``.
        device_type (DeviceType): ``DEVICE_TYPE``: integrated, discrete or unknown.
        capabilities (tuple[str, ...]): ``OPTIMIZATION_CAPABILITIES``, e.g. ``("FP32", "BF16", ...)``.
        optimal_infer_requests (int | None): ``OPTIMAL_NUMBER_OF_INFER_REQUESTS`` as the device
            reports it for its default (latency) hint: 1 on CPU. The number for a throughput
            hint comes from the compiled model (``ov.AsyncInferQueue(compiled, jobs=0)`` uses it).
        memory_bytes (int | None): Total device memory (``GPU_DEVICE_TOTAL_MEM_SIZE`` on GPU,
            ``NPU_DEVICE_TOTAL_MEM_SIZE`` on NPU); ``None`` on CPU.
        architecture (str | None): ``DEVICE_ARCHITECTURE``, e.g. ``"intel64"``.
        traits (DeviceTraits): The family's traits, refined by the capabilities.
    """

    name: str
    full_name: str | None
    device_type: DeviceType
    capabilities: tuple[str, ...]
    optimal_infer_requests: int | None
    memory_bytes: int | None
    architecture: str | None
    traits: DeviceTraits

    @property
    def family(self) -> str:
        """Device family, e.g. ``"GPU"`` for ``GPU.1``."""
        return self.traits.family

    @property
    def precisions(self) -> tuple[str, ...]:
        """The capabilities that are numeric precisions, e.g. ``("FP32", "BF16", "INT8")``."""
        return tuple(p for p in _PRECISIONS if p in self.capabilities)

    def to_dict(self) -> dict[str, object]:
        """Machine-readable form with stable keys (the ``edgekit devices --json`` row).

        Returns:
            A JSON-serialisable dict.
        """
        return {
            "name": self.name,
            "family": self.family,
            "full_name": self.full_name,
            "device_type": str(self.device_type),
            "precisions": list(self.precisions),
            "capabilities": list(self.capabilities),
            "optimal_infer_requests": self.optimal_infer_requests,
            "memory_bytes": self.memory_bytes,
            "architecture": self.architecture,
            "traits": self.traits.to_dict(),
        }


@functools.cache
def default_core() -> CoreLike:
    """The process-wide ``openvino.Core`` (created on first use; it is thread-safe).

    Returns:
        An ``openvino.Core``.
    """
    import openvino as ov

    return ov.Core()


def _query(core: CoreLike, device: str, name: str) -> Any:
    """One property, or ``None`` where the device does not support it.

    OpenVINO raises a plain ``RuntimeError`` for a property a plugin does not know ("Cannot get
    unsupported property: X" on CPU; the wording differs per plugin), so that is the one error
    caught. Anything else is a bug and propagates.
    """
    try:
        return core.get_property(device, name)
    except RuntimeError as error:
        last = next((line for line in reversed(str(error).splitlines()) if line.strip()), "")
        logger.debug("device %s does not report %s: %s", device, name, last.strip())
        return None


def _device_type(value: Any) -> DeviceType:
    """Map ``DEVICE_TYPE`` (``ov.properties.device.Type.DISCRETE`` or a string) to DeviceType."""
    if value is None:
        return DeviceType.UNKNOWN
    text = str(getattr(value, "name", value)).rsplit(".", 1)[-1].strip().lower()
    try:
        return DeviceType(text)
    except ValueError:
        logger.debug("unknown DEVICE_TYPE %r", value)
        return DeviceType.UNKNOWN


def _as_int(device: str, name: str, value: Any) -> int | None:
    """An integer property value, or ``None`` (logged) if it is missing or not a number."""
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        logger.debug("device %s: %s is not an integer: %r", device, name, value)
        return None


def describe(device: str, core: CoreLike | None = None) -> DeviceInfo:
    """Describe one device by querying its properties.

    Args:
        device: A device name listed in ``core.available_devices``.
        core: The OpenVINO core (or a fake); the process-wide core if ``None``.

    Returns:
        The device's description; properties it does not support are ``None``.
    """
    core = default_core() if core is None else core
    caps_value = _query(core, device, "OPTIMIZATION_CAPABILITIES")
    capabilities = tuple(str(c) for c in caps_value) if caps_value else ()
    device_traits = traits(device, capabilities)
    full_name = _query(core, device, "FULL_DEVICE_NAME")
    architecture = _query(core, device, "DEVICE_ARCHITECTURE")
    memory = None
    if device_traits.memory_property is not None:
        memory_value = _query(core, device, device_traits.memory_property)
        memory = _as_int(device, device_traits.memory_property, memory_value)
    requests = _query(core, device, "OPTIMAL_NUMBER_OF_INFER_REQUESTS")
    return DeviceInfo(
        name=device,
        full_name=None if full_name is None else str(full_name),
        device_type=_device_type(_query(core, device, "DEVICE_TYPE")),
        capabilities=capabilities,
        optimal_infer_requests=_as_int(device, "OPTIMAL_NUMBER_OF_INFER_REQUESTS", requests),
        memory_bytes=memory,
        architecture=None if architecture is None else str(architecture),
        traits=device_traits,
    )


def discover(core: CoreLike | None = None) -> list[DeviceInfo]:
    """List the devices OpenVINO can use here, in OpenVINO's order.

    Args:
        core: The OpenVINO core (or a fake); the process-wide core if ``None``.

    Returns:
        One :class:`DeviceInfo` per available device (``CPU`` at least on any x86 machine).
    """
    core = default_core() if core is None else core
    return [describe(name, core) for name in core.available_devices]
