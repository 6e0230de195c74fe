"""A fake OpenVINO core that answers like a machine with CPU, an iGPU, a dGPU and an NPU."""

from __future__ import annotations

from typing import Any

import pytest
from openvino.properties.device import Type as OvDeviceType

GIB = 2**30

# Answers shaped like OpenVINO 2026.4's: DEVICE_TYPE as its enum (or a string), capabilities as
# a list of strings, memory as an int. A missing key raises like a plugin does.
ANSWERS: dict[str, dict[str, Any]] = {
    "CPU": {
        "FULL_DEVICE_NAME": "Intel(R) Core(TM) Ultra 7 165H",
        "DEVICE_TYPE": OvDeviceType.INTEGRATED,
        "OPTIMIZATION_CAPABILITIES": ["FP32", "INT8", "BIN", "EXPORT_IMPORT"],
        "DEVICE_ARCHITECTURE": "intel64",
        "OPTIMAL_NUMBER_OF_INFER_REQUESTS": 1,
    },
    "GPU.0": {
        "FULL_DEVICE_NAME": "Intel(R) Arc(TM) Graphics (iGPU)",
        "DEVICE_TYPE": OvDeviceType.INTEGRATED,
        "OPTIMIZATION_CAPABILITIES": ["FP32", "BIN", "FP16", "INT8", "GPU_HW_MATMUL", "EXPORT_IMPORT"],
        "DEVICE_ARCHITECTURE": "GPU: vendor=0x8086 arch=v12.71.4",
        "OPTIMAL_NUMBER_OF_INFER_REQUESTS": 4,
        "GPU_DEVICE_TOTAL_MEM_SIZE": 16 * GIB,
    },
    "GPU.1": {
        "FULL_DEVICE_NAME": "Intel(R) Arc(TM) A770 Graphics (dGPU)",
        "DEVICE_TYPE": "discrete",
        "OPTIMIZATION_CAPABILITIES": ["FP32", "BIN", "FP16", "INT8", "EXPORT_IMPORT"],
        # DEVICE_ARCHITECTURE and the memory size are missing: the plugin raises for them.
        "OPTIMAL_NUMBER_OF_INFER_REQUESTS": "8",
    },
    "NPU": {
        "FULL_DEVICE_NAME": "Intel(R) AI Boost",
        "DEVICE_TYPE": OvDeviceType.INTEGRATED,
        "OPTIMIZATION_CAPABILITIES": ["FP16", "INT8", "EXPORT_IMPORT"],
        "DEVICE_ARCHITECTURE": "3720",
        "NPU_DEVICE_TOTAL_MEM_SIZE": 32 * GIB,
        # OPTIMAL_NUMBER_OF_INFER_REQUESTS is missing: the plugin raises for it.
    },
}


class FakeCore:
    """Satisfies ``edgekit.devices.CoreLike``; records every query."""

    def __init__(self, answers: dict[str, dict[str, Any]]) -> None:
        self.answers = answers
        self.queries: list[tuple[str, str]] = []

    @property
    def available_devices(self) -> list[str]:
        return list(self.answers)

    def get_property(self, device_name: str, name: str, /) -> Any:
        self.queries.append((device_name, name))
        try:
            return self.answers[device_name][name]
        except KeyError:
            # The wording OpenVINO's CPU plugin uses, multi-line like the real thing.
            raise RuntimeError(
                "Exception from src/inference/src/cpp/core.cpp:268:\n"
                f"Cannot get unsupported property: {name}\n\n"
            ) from None


@pytest.fixture
def fake_core() -> FakeCore:
    return FakeCore(ANSWERS)


@pytest.fixture
def cpu_only_core() -> FakeCore:
    return FakeCore({"CPU": ANSWERS["CPU"]})


@pytest.fixture
def npu_only_core() -> FakeCore:
    return FakeCore({"NPU": ANSWERS["NPU"]})


@pytest.fixture
def lone_gpu_core() -> FakeCore:
    """One GPU: OpenVINO then lists it as ``GPU``, without an id."""
    return FakeCore({"CPU": ANSWERS["CPU"], "GPU": ANSWERS["GPU.0"]})
