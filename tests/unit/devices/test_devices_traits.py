import pytest

from edgekit.devices import DeviceTraits, Precision, family, known_families, traits


@pytest.mark.parametrize(
    ("device", "expected"),
    [
        ("CPU", "CPU"),
        ("GPU", "GPU"),
        ("GPU.1", "GPU"),
        ("gpu.0", "GPU"),
        ("NPU", "NPU"),
        ("AUTO:GPU,CPU", "AUTO"),
        ("HETERO:GPU.1,CPU", "HETERO"),
        (" MULTI:CPU ", "MULTI"),
    ],
)
def test_family(device, expected):
    assert family(device) == expected


def test_npu_needs_static_shapes_a_cache_and_is_left_out_of_auto():
    npu = traits("NPU")
    assert npu.requires_static_shapes
    assert npu.supports_compile_cache and npu.cache_recommended
    assert not npu.included_in_auto
    assert npu.first_compile_slow
    assert npu.preferred_precision is Precision.F16


def test_gpu_prefers_f16_and_a_cache_whatever_its_id():
    assert traits("GPU.1") == traits("GPU") == traits("GPU.0")
    gpu = traits("GPU.1")
    assert gpu.preferred_precision is Precision.F16
    assert gpu.cache_recommended and gpu.included_in_auto
    assert not gpu.requires_static_shapes
    assert gpu.memory_property == "GPU_DEVICE_TOTAL_MEM_SIZE"


@pytest.mark.parametrize(
    ("capabilities", "expected"),
    [
        ((), Precision.F32),
        (("FP32", "INT8"), Precision.F32),
        (("FP32", "BF16", "INT8"), Precision.BF16),
        (("fp32", "bf16"), Precision.BF16),
    ],
)
def test_cpu_prefers_bf16_only_where_it_has_bf16(capabilities, expected):
    cpu = traits("CPU", capabilities)
    assert cpu.preferred_precision is expected
    assert not cpu.requires_static_shapes
    assert not cpu.cache_recommended
    assert cpu.memory_property is None


def test_bf16_capability_does_not_change_other_families():
    assert traits("GPU", ["BF16"]).preferred_precision is Precision.F16


def test_unknown_family_gets_conservative_defaults():
    other = traits("FPGA.2")
    assert other == DeviceTraits(family="FPGA")
    assert not other.requires_static_shapes
    assert other.preferred_precision is Precision.F32
    assert not other.supports_compile_cache and not other.cache_recommended


def test_only_npu_is_left_out_of_auto():
    assert [f for f in known_families() if not traits(f).included_in_auto] == ["NPU"]


def test_traits_are_frozen():
    with pytest.raises(AttributeError):
        traits("CPU").requires_static_shapes = True  # type: ignore[misc]


def test_to_dict_has_stable_keys():
    assert set(traits("NPU").to_dict()) == {
        "family",
        "requires_static_shapes",
        "preferred_precision",
        "supports_compile_cache",
        "cache_recommended",
        "supports_batching",
        "included_in_auto",
        "first_compile_slow",
        "note",
    }
    assert traits("NPU").to_dict()["preferred_precision"] == "f16"


def test_auto_batch_follows_the_device_and_the_number_of_streams():
    from edgekit.devices import auto_batch

    assert [auto_batch("CPU", n) for n in (1, 4, 8)] == [1, 1, 1]  # measured: batching buys nothing on CPU
    assert [auto_batch("GPU.0", n) for n in (1, 4, 16)] == [1, 4, 8]
    assert [auto_batch("NPU", n) for n in (1, 2, 8)] == [1, 2, 4]
    assert auto_batch("FPGA", 4) == 1  # a family edgekit does not know: no batching
