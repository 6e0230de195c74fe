import json
import logging

import pytest

from edgekit.devices import DeviceInfo, DeviceType, Precision, describe, discover

GIB = 2**30


def by_name(devices: list[DeviceInfo]) -> dict[str, DeviceInfo]:
    return {d.name: d for d in devices}


def test_lists_every_device_in_openvino_order(fake_core):
    assert [d.name for d in discover(fake_core)] == ["CPU", "GPU.0", "GPU.1", "NPU"]


def test_integrated_gpu_reports_its_memory(fake_core):
    gpu = by_name(discover(fake_core))["GPU.0"]
    assert gpu.family == "GPU"
    assert gpu.device_type is DeviceType.INTEGRATED
    assert gpu.full_name == "Intel(R) Arc(TM) Graphics (iGPU)"
    assert gpu.memory_bytes == 16 * GIB
    assert gpu.optimal_infer_requests == 4
    assert gpu.precisions == ("FP32", "FP16", "INT8")
    assert "GPU_HW_MATMUL" in gpu.capabilities
    assert gpu.architecture == "GPU: vendor=0x8086 arch=v12.71.4"
    assert gpu.traits.preferred_precision is Precision.F16


def test_discrete_gpu_skips_properties_it_does_not_support(fake_core):
    gpu = by_name(discover(fake_core))["GPU.1"]
    assert gpu.device_type is DeviceType.DISCRETE  # given as a plain string
    assert gpu.architecture is None
    assert gpu.memory_bytes is None
    assert gpu.optimal_infer_requests == 8  # given as a string


def test_npu_without_optimal_requests(fake_core):
    npu = by_name(discover(fake_core))["NPU"]
    assert npu.optimal_infer_requests is None
    assert npu.memory_bytes == 32 * GIB
    assert npu.architecture == "3720"
    assert npu.traits.requires_static_shapes
    assert not npu.traits.included_in_auto


def test_cpu_without_bf16_prefers_f32_and_has_no_memory_query(fake_core):
    cpu = by_name(discover(fake_core))["CPU"]
    assert cpu.precisions == ("FP32", "INT8")
    assert cpu.traits.preferred_precision is Precision.F32
    assert cpu.memory_bytes is None
    assert not any(name.endswith("TOTAL_MEM_SIZE") for dev, name in fake_core.queries if dev == "CPU")


def test_unsupported_property_is_logged_at_debug(fake_core, caplog):
    with caplog.at_level(logging.DEBUG, logger="edgekit.devices"):
        describe("GPU.1", fake_core)
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any("GPU.1" in m and "DEVICE_ARCHITECTURE" in m and "unsupported property" in m for m in messages)
    assert all(r.levelno == logging.DEBUG for r in caplog.records)


def test_a_device_that_answers_almost_nothing_still_describes(fake_core):
    fake_core.answers = {"XPU.3": {"DEVICE_TYPE": "weird"}}
    [dev] = discover(fake_core)
    assert dev.name == "XPU.3"
    assert dev.family == "XPU"
    assert dev.device_type is DeviceType.UNKNOWN
    assert dev.full_name is None
    assert dev.capabilities == ()
    assert dev.precisions == ()


def test_errors_other_than_openvinos_runtime_error_propagate(fake_core):
    class BrokenCore:
        available_devices = ("CPU",)

        def get_property(self, device_name, name, /):
            raise TypeError("Unable to convert function return value to a Python type!")

    with pytest.raises(TypeError):
        discover(BrokenCore())


def test_to_dict_is_json_with_stable_keys(fake_core):
    rows = json.loads(json.dumps([d.to_dict() for d in discover(fake_core)]))
    assert {tuple(sorted(row)) for row in rows} == {
        tuple(
            sorted(
                [
                    "name",
                    "family",
                    "full_name",
                    "device_type",
                    "precisions",
                    "capabilities",
                    "optimal_infer_requests",
                    "memory_bytes",
                    "architecture",
                    "traits",
                ]
            )
        )
    }
    gpu0 = rows[1]
    assert gpu0["device_type"] == "integrated"
    assert gpu0["memory_bytes"] == 16 * GIB
    assert gpu0["traits"]["cache_recommended"] is True


def test_real_core_sees_the_cpu():
    import openvino as ov

    core = ov.Core()
    devices = by_name(discover(core))
    assert "CPU" in devices
    cpu = devices["CPU"]
    assert cpu.full_name
    assert "FP32" in cpu.precisions
    assert cpu.device_type in set(DeviceType)
    assert cpu.optimal_infer_requests is None or cpu.optimal_infer_requests >= 1
    assert cpu.memory_bytes is None
    # The traits' preferred CPU precision is what OpenVINO itself picks by default here.
    default = core.get_property("CPU", "INFERENCE_PRECISION_HINT").to_string()
    assert cpu.traits.preferred_precision == default


def test_default_core_is_used_when_none_is_given():
    assert "CPU" in [d.name for d in discover()]
