from pathlib import Path

import numpy as np
import pytest

from edgekit.devices import (
    DeviceSpec,
    PerformanceHint,
    Precision,
    compile_config,
    parse_device,
    resolve_device,
)
from edgekit.devices import resolve as resolve_module
from edgekit.errors import ConfigError, DeviceError


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        ("CPU", "CPU"),
        ("cpu", "CPU"),
        ("CPU.0", "CPU"),  # the CPU plugin rejects any id
        ("GPU", "GPU"),  # OpenVINO's GPU.0
        ("GPU.0", "GPU.0"),
        ("gpu.1", "GPU.1"),
        ("NPU", "NPU"),
        ("AUTO", "AUTO"),
        ("AUTO:GPU,CPU", "AUTO:GPU,CPU"),
        ("auto: npu , cpu", "AUTO:NPU,CPU"),
        ("AUTO:-CPU", "AUTO:-CPU"),
        ("AUTO:-GPU", "AUTO:-GPU"),
        ("MULTI:GPU.0,GPU.1", "MULTI:GPU.0,GPU.1"),
        ("HETERO:GPU.1,CPU", "HETERO:GPU.1,CPU"),
    ],
)
def test_resolves_names_the_machine_has(fake_core, requested, expected):
    assert resolve_device(requested, fake_core) == expected


def test_gpu_0_matches_a_lone_gpu(lone_gpu_core):
    assert resolve_device("GPU.0", lone_gpu_core) == "GPU"
    assert resolve_device("GPU", lone_gpu_core) == "GPU"
    with pytest.raises(DeviceError, match=r"'GPU\.1' is not available"):
        resolve_device("GPU.1", lone_gpu_core)


def test_absent_device_is_one_line_listing_what_is_available(cpu_only_core):
    with pytest.raises(DeviceError) as info:
        resolve_device("NPU", cpu_only_core)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(
        "device 'NPU' is not available on this machine; available: CPU (accepted: CPU, AUTO"
    )


def test_absent_member_of_a_list_names_the_member(cpu_only_core):
    with pytest.raises(DeviceError, match=r"device 'NPU' in 'AUTO:NPU,CPU' is not available.*available: CPU"):
        resolve_device("auto:npu,cpu", cpu_only_core)


def test_accepted_list_offers_the_family_of_numbered_devices(fake_core):
    with pytest.raises(DeviceError, match=r"available: CPU, GPU.0, GPU.1, NPU \(accepted: .*GPU, AUTO"):
        resolve_device("GPU.2", fake_core)


def test_excluding_an_absent_device_is_an_error(cpu_only_core):
    with pytest.raises(DeviceError, match="'GPU'"):
        resolve_device("AUTO:-GPU", cpu_only_core)


def test_plain_auto_does_not_count_the_npu(npu_only_core):
    with pytest.raises(DeviceError, match="AUTO skips NPU unless it is named"):
        resolve_device("AUTO", npu_only_core)
    assert resolve_device("AUTO:NPU", npu_only_core) == "AUTO:NPU"


def test_auto_excluding_everything_it_may_pick(fake_core):
    with pytest.raises(DeviceError, match="leaves AUTO no device"):
        resolve_device("AUTO:-GPU,-CPU", fake_core)


@pytest.mark.parametrize(
    ("requested", "problem"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("MULTI", "needs a device list"),
        ("HETERO", "needs a device list"),
        ("MULTI:", "invalid list item"),
        ("FOO:CPU", "unknown prefix 'FOO'"),
        ("AUTO:CPU,,", "invalid list item"),
        ("AUTO:MULTI:CPU", "invalid list item"),
        ("AUTO:AUTO", "invalid list item"),
        ("HETERO:-CPU", "only AUTO supports"),
        ("GPU 1", "is not a device name"),
    ],
)
def test_malformed_strings_are_one_line_errors(fake_core, requested, problem):
    with pytest.raises(DeviceError, match=problem) as info:
        resolve_device(requested, fake_core)
    assert "\n" not in str(info.value)
    assert "accepted:" in str(info.value)


def test_parse_device_keeps_priority_and_exclusions():
    assert parse_device("AUTO:GPU.1,-npu,CPU") == DeviceSpec("AUTO", ("GPU.1", "CPU"), ("NPU",))
    assert str(parse_device("AUTO:GPU.1,-npu,CPU")) == "AUTO:GPU.1,CPU,-NPU"
    assert parse_device("npu") == DeviceSpec(None, ("NPU",))


def test_real_core_resolves_cpu_and_rejects_a_missing_device():
    assert resolve_device("cpu") == "CPU"
    assert resolve_device("AUTO:CPU") == "AUTO:CPU"
    with pytest.raises(DeviceError, match=r"'NOSUCH' is not available on this machine; available: .*CPU"):
        resolve_device("NOSUCH")


# -- compile_config ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("device", "cached"),
    [
        ("CPU", False),
        ("GPU", True),
        ("GPU.1", True),
        ("NPU", True),
        ("AUTO", True),  # may pick a GPU
        ("AUTO:-GPU", False),  # CPU only: plain AUTO never picks the NPU
        ("AUTO:CPU", False),
        ("AUTO:NPU,CPU", True),
        ("HETERO:GPU,CPU", True),
        ("MULTI:CPU", False),
    ],
)
def test_cache_dir_only_where_compiling_is_slow(device, cached, tmp_path):
    config = compile_config(device, tmp_path)
    assert (config.get("CACHE_DIR") == str(tmp_path)) is cached
    assert "CACHE_DIR" not in compile_config(device, None)


def test_hint_and_precision():
    assert compile_config("CPU") == {"PERFORMANCE_HINT": "LATENCY"}
    assert compile_config("GPU", hint="throughput", precision="F32") == {
        "PERFORMANCE_HINT": "THROUGHPUT",
        "INFERENCE_PRECISION_HINT": "f32",
    }
    # through AUTO the precision goes to the CPU only: a GPU that AUTO picks keeps its own f16
    assert compile_config("AUTO", hint=PerformanceHint.CUMULATIVE_THROUGHPUT, precision=Precision.BF16) == {
        "PERFORMANCE_HINT": "CUMULATIVE_THROUGHPUT",
        "DEVICE_PROPERTIES": {"CPU": {"INFERENCE_PRECISION_HINT": "bf16"}},
    }


def test_bad_hint_and_precision_are_config_errors():
    with pytest.raises(ConfigError, match="performance hint 'fast' is not known; accepted: LATENCY"):
        compile_config("CPU", hint="fast")
    with pytest.raises(ConfigError, match="inference precision 'u8' is not known; accepted: f32"):
        compile_config("CPU", precision="u8")
    with pytest.raises(DeviceError):
        compile_config("FOO:CPU")


def test_property_names_agree_with_openvino():
    import openvino.properties as props
    import openvino.properties.hint as hints

    assert props.cache_dir() == resolve_module.CACHE_DIR
    assert hints.performance_mode() == resolve_module.PERFORMANCE_HINT
    assert hints.inference_precision() == resolve_module.INFERENCE_PRECISION_HINT
    assert {str(h) for h in PerformanceHint} == set(hints.PerformanceMode.__members__)


def tiny_model():
    import openvino as ov
    from openvino import opset13 as ops

    x = ops.parameter([2, 3, 8, 8], ov.Type.f32, name="x")
    y = ops.multiply(ops.relu(x), ops.constant(np.float32(2.0)))
    return ov.Model([y], [x], "tiny")


@pytest.mark.parametrize("device", ["CPU", "AUTO", "AUTO:CPU", "MULTI:CPU", "HETERO:CPU"])
@pytest.mark.parametrize("hint", list(PerformanceHint))
@pytest.mark.parametrize("precision", [None, *Precision])
def test_openvino_compiles_with_the_config(device, hint, precision, tmp_path):
    import openvino as ov

    core = ov.Core()
    resolved = resolve_device(device, core)
    config = compile_config(resolved, tmp_path, hint=hint, precision=precision)
    compiled = core.compile_model(tiny_model(), resolved, config)
    x = np.linspace(-1, 1, 2 * 3 * 8 * 8, dtype=np.float32).reshape(2, 3, 8, 8)
    out = compiled(x)[0]
    np.testing.assert_allclose(out, 2 * np.maximum(x, 0), rtol=1e-2, atol=1e-2)
    if resolved == "CPU":
        assert str(compiled.get_property("PERFORMANCE_HINT")) == str(hint)
        if precision is Precision.F32:
            assert compiled.get_property("INFERENCE_PRECISION_HINT").to_string() == "f32"


def test_cpu_can_cache_as_its_traits_say(tmp_path: Path):
    import openvino as ov

    from edgekit.devices import traits

    assert traits("CPU").supports_compile_cache
    cache = tmp_path / "nested" / "cache"
    config = {**compile_config("CPU"), "CACHE_DIR": str(cache)}
    ov.Core().compile_model(tiny_model(), "CPU", config)
    assert any(cache.iterdir())  # OpenVINO creates the folder and writes a blob
