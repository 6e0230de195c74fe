"""Inference devices: what OpenVINO can use here, what each needs, and how to compile for it.

A leaf package: it imports OpenVINO (lazily, on first use of a real core) and nothing of edgekit's
stages. Device quirks are looked up with :func:`traits`, never with ``"NPU" in name`` checks.
"""

from edgekit.devices.discover import CoreLike, DeviceInfo, DeviceType, default_core, describe, discover
from edgekit.devices.resolve import (
    DeviceSpec,
    PerformanceHint,
    compile_config,
    parse_device,
    resolve_device,
)
from edgekit.devices.traits import DeviceTraits, Precision, auto_batch, family, known_families, traits

__all__ = [
    "CoreLike",
    "DeviceInfo",
    "DeviceSpec",
    "DeviceTraits",
    "DeviceType",
    "PerformanceHint",
    "Precision",
    "auto_batch",
    "compile_config",
    "default_core",
    "describe",
    "discover",
    "family",
    "known_families",
    "parse_device",
    "resolve_device",
    "traits",
]
