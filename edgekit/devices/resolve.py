"""Turn a user's device string into one OpenVINO accepts, and the properties to compile with.

Accepted device strings (case-insensitive; returned in OpenVINO's upper case):

* a listed device (``CPU``, ``GPU.1``, ``NPU``) or a family with a listed member (``GPU`` is
  OpenVINO's ``GPU.0``); ``GPU.0`` also matches a lone ``GPU`` (the plugin's default id), while
  ``CPU.0`` becomes ``CPU`` because the CPU plugin rejects any id;
* ``AUTO``, ``AUTO:GPU,CPU`` (a priority list) and ``AUTO:-CPU`` (exclusions);
* ``MULTI:GPU,CPU`` and ``HETERO:GPU,CPU`` (a list is required).

Every named device must be available, excluded ones too: OpenVINO loads an excluded device's
plugin when given a config and fails there with a library error instead of a clear message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from edgekit.devices.discover import CoreLike, default_core
from edgekit.devices.traits import Precision, family, known_families, traits
from edgekit.errors import ConfigError, DeviceError

# OpenVINO property names, as ``openvino.properties`` spells them (a test checks they agree).
CACHE_DIR = "CACHE_DIR"
PERFORMANCE_HINT = "PERFORMANCE_HINT"
INFERENCE_PRECISION_HINT = "INFERENCE_PRECISION_HINT"

VIRTUAL_DEVICES = ("AUTO", "MULTI", "HETERO")
_NAME = re.compile(r"[A-Z][A-Z0-9_]*(\.[A-Z0-9_]+)?")
_ACCEPTED_FORMS = "AUTO, or AUTO:/MULTI:/HETERO: followed by a comma-separated list of them"


class PerformanceHint(StrEnum):
    """Values of OpenVINO's ``PERFORMANCE_HINT`` (they matter for async use only)."""

    LATENCY = "LATENCY"
    THROUGHPUT = "THROUGHPUT"
    CUMULATIVE_THROUGHPUT = "CUMULATIVE_THROUGHPUT"


@dataclass(frozen=True)
class DeviceSpec:
    """A parsed device string.

    Attributes:
        mode (str | None): ``"AUTO"``, ``"MULTI"`` or ``"HETERO"``; ``None`` for one device.
        devices (tuple[str, ...]): The named devices in priority order (the one device if ``mode``
            is ``None``; empty for a plain ``AUTO``).
        excluded (tuple[str, ...]): Devices ``AUTO`` must not use (``AUTO:-CPU``).
    """

    mode: str | None
    devices: tuple[str, ...]
    excluded: tuple[str, ...] = ()

    def __str__(self) -> str:
        if self.mode is None:
            return self.devices[0]
        members = [*self.devices, *(f"-{d}" for d in self.excluded)]
        return f"{self.mode}:{','.join(members)}" if members else self.mode


def _syntax_error(requested: str, problem: str) -> DeviceError:
    return DeviceError(
        f"device {requested!r} {problem}; accepted: a device name such as CPU, GPU, GPU.1 or NPU, "
        f"{_ACCEPTED_FORMS}"
    )


def parse_device(requested: str) -> DeviceSpec:
    """Parse a device string without checking what this machine has.

    Args:
        requested: E.g. ``"cpu"``, ``"GPU.1"``, ``"AUTO:GPU,CPU"``, ``"HETERO:GPU,CPU"``.

    Returns:
        The parsed, upper-cased device string.

    Raises:
        DeviceError: If the string is malformed (empty, unknown ``X:`` prefix, empty list item,
            a list on a plain device, ``MULTI``/``HETERO`` without a list).
    """
    text = requested.strip().upper()
    if not text:
        raise _syntax_error(requested, "is empty")
    mode, sep, rest = text.partition(":")
    if not sep:
        if text in ("MULTI", "HETERO"):
            raise _syntax_error(requested, f"needs a device list, e.g. {text}:GPU,CPU")
        if text == "AUTO":
            return DeviceSpec(mode="AUTO", devices=())
        if not _NAME.fullmatch(text):
            raise _syntax_error(requested, "is not a device name")
        return DeviceSpec(mode=None, devices=(text,))
    if mode not in VIRTUAL_DEVICES:
        raise _syntax_error(requested, f"has an unknown prefix {mode!r}")
    devices: list[str] = []
    excluded: list[str] = []
    for raw in rest.split(","):
        item = raw.strip()
        is_excluded = item.startswith("-")
        name = item[1:].strip() if is_excluded else item
        if is_excluded and mode != "AUTO":
            raise _syntax_error(requested, f"excludes {name!r}, which only AUTO supports")
        if not _NAME.fullmatch(name) or family(name) in VIRTUAL_DEVICES:
            raise _syntax_error(requested, f"has an invalid list item {item!r}")
        (excluded if is_excluded else devices).append(name)
    if mode != "AUTO" and not devices:
        raise _syntax_error(requested, "has an empty device list")
    return DeviceSpec(mode=mode, devices=tuple(devices), excluded=tuple(excluded))


def _match(name: str, available: list[str]) -> str | None:
    """The name OpenVINO knows ``name`` by on this machine, or ``None`` if it is absent."""
    if name in available:
        return name
    base, _, device_id = name.partition(".")
    if not device_id:
        # A family: GPU stands for GPU.0 when OpenVINO lists GPU.0 and GPU.1.
        return name if any(family(a) == base for a in available) else None
    # With one GPU OpenVINO lists "GPU", and GPU.0 is the same device.
    return base if device_id == "0" and base in available else None


def _absent(name: str, requested: str, available: list[str]) -> DeviceError:
    listed = ", ".join(available) if available else "none"
    families = [f for f in dict.fromkeys(family(a) for a in available) if f not in available]
    where = "" if name == requested else f" in {requested!r}"
    return DeviceError(
        f"device {name!r}{where} is not available on this machine; available: {listed} "
        f"(accepted: {', '.join([*available, *families])}, {_ACCEPTED_FORMS})"
    )


def resolve_device(requested: str, core: CoreLike | None = None) -> str:
    """Check a device string against this machine and return it as OpenVINO spells it.

    Args:
        requested: A device string (see the module docstring), e.g. ``"gpu"`` or ``"AUTO:NPU,CPU"``.
        core: The OpenVINO core (or a fake); the process-wide core if ``None``.

    Returns:
        The device string to pass to ``core.compile_model``, e.g. ``"GPU"`` or ``"AUTO:NPU,CPU"``.

    Raises:
        DeviceError: If the string is malformed or names a device this machine does not have.
    """
    spec = parse_device(requested)
    core = default_core() if core is None else core
    available = list(core.available_devices)

    def check(names: tuple[str, ...]) -> tuple[str, ...]:
        matched = []
        for name in names:
            found = _match(name, available)
            if found is None:
                raise _absent(name, str(spec), available)
            matched.append(found)
        return tuple(matched)

    resolved = DeviceSpec(spec.mode, check(spec.devices), check(spec.excluded))
    if resolved.mode == "AUTO" and not resolved.devices and not _auto_candidates(resolved, available):
        skipped = [a for a in available if not traits(a).included_in_auto]
        why = f"; AUTO skips {', '.join(skipped)} unless it is named" if skipped else ""
        msg = (
            f"device {str(resolved)!r} leaves AUTO no device to choose on this machine{why}; "
            f"available: {', '.join(available)} (accepted: AUTO:<device list>, or a device name)"
        )
        raise DeviceError(msg)
    return str(resolved)


def _auto_candidates(spec: DeviceSpec, available: list[str]) -> list[str]:
    """Devices a plain ``AUTO`` (with its exclusions) may pick among ``available``."""

    def excluded(name: str) -> bool:
        return any(name == e or ("." not in e and family(name) == e) for e in spec.excluded)

    return [a for a in available if traits(a).included_in_auto and not excluded(a)]


def _cache_recommended(spec: DeviceSpec) -> bool:
    """Whether any device the spec may run on compiles slowly enough to cache."""
    if spec.devices:
        return any(traits(d).cache_recommended for d in spec.devices)
    # Plain AUTO may pick any family it includes without naming it (not the NPU), minus exclusions.
    excluded = {family(d) for d in spec.excluded}
    return any(
        t.cache_recommended and t.included_in_auto
        for t in (traits(f) for f in known_families())
        if t.family not in excluded
    )


def compile_config(
    device: str,
    cache_dir: Path | None = None,
    *,
    hint: PerformanceHint | str = PerformanceHint.LATENCY,
    precision: Precision | str | None = None,
) -> dict[str, Any]:
    """OpenVINO properties to pass to ``core.compile_model`` for a device.

    Args:
        device: A device string (need not be resolved; it is only parsed).
        cache_dir: Folder for compiled blobs. Used only where the traits recommend a cache (GPU,
            NPU, or a plain ``AUTO`` that may pick a GPU); OpenVINO creates it.
        hint: ``PERFORMANCE_HINT``: LATENCY for one stream, THROUGHPUT for an async queue.
        precision: ``INFERENCE_PRECISION_HINT``. ``None`` keeps the device default, which is the
            traits' preferred precision (bf16 on a BF16 CPU, f16 on GPU and NPU); pass ``"f32"``
            where accuracy matters more than speed.

    Returns:
        Property name -> value, e.g. ``{"PERFORMANCE_HINT": "LATENCY", "CACHE_DIR": "/c"}``.

    Raises:
        ConfigError: If ``hint`` or ``precision`` is not one OpenVINO accepts.
        DeviceError: If ``device`` is malformed.
    """
    spec = parse_device(device)
    try:
        hint_value = PerformanceHint(str(hint).strip().upper())
    except ValueError:
        accepted = ", ".join(PerformanceHint)
        msg = f"performance hint {hint!r} is not known; accepted: {accepted}"
        raise ConfigError(msg) from None
    config: dict[str, Any] = {PERFORMANCE_HINT: str(hint_value)}
    if precision is not None:
        try:
            value = str(Precision(str(precision).strip().lower()))
        except ValueError:
            accepted = ", ".join(Precision)
            msg = f"inference precision {precision!r} is not known; accepted: {accepted}"
            raise ConfigError(msg) from None
        if spec.mode is not None:
            # AUTO/MULTI refuse INFERENCE_PRECISION_HINT themselves; the CPU they may pick takes it
            # through DEVICE_PROPERTIES (measured: AUTO on this CPU then gives the f32 result)
            config["DEVICE_PROPERTIES"] = {"CPU": {INFERENCE_PRECISION_HINT: value}}
        else:
            config[INFERENCE_PRECISION_HINT] = value
    if cache_dir is not None and _cache_recommended(spec):
        config[CACHE_DIR] = str(cache_dir)
    return config
