"""One definition of fps and latency for every mode, and the ratios, checked against hand-computed answers."""

from __future__ import annotations

import pytest

from edgekit.bench.suite import check_options, ratios
from edgekit.bench.timing import latency, steady_fps, summary
from edgekit.errors import ConfigError

MS = 1_000_000  # ns


def test_fps_counts_results_after_the_warmup_th_result() -> None:
    # results at 100, 110, 120, 130, 140 ms; warm-up 2: the 3 results after the 2nd (110 ms) took 30 ms
    done = [100 * MS, 110 * MS, 120 * MS, 130 * MS, 140 * MS]
    assert steady_fps(done, warmup=2, start_ns=0) == pytest.approx(3 / 0.030)


def test_fps_ignores_completion_order() -> None:
    # an async mode finishes frames out of order: the same instants give the same rate
    assert steady_fps([140 * MS, 100 * MS, 130 * MS, 110 * MS, 120 * MS], 2, 0) == pytest.approx(100.0)


def test_fps_without_warmup_counts_from_the_first_frame_taken() -> None:
    # 4 results, the first frame taken at 0: 4 results in 40 ms
    assert steady_fps([10 * MS, 20 * MS, 30 * MS, 40 * MS], warmup=0, start_ns=0) == pytest.approx(100.0)


def test_fps_leaves_out_a_slow_pipeline_fill() -> None:
    # a 1 s compile-and-fill before the first result changes nothing once it is in the warm-up
    steady = [1000 * MS + i * 10 * MS for i in range(6)]
    assert steady_fps(steady, warmup=1, start_ns=0) == pytest.approx(100.0)


def test_fps_is_zero_when_nothing_is_measured() -> None:
    assert steady_fps([10 * MS, 20 * MS], warmup=2, start_ns=0) == 0.0
    with pytest.raises(ConfigError):
        steady_fps([10 * MS], warmup=-1, start_ns=0)


def test_latency_drops_warmup_frames_by_index() -> None:
    # two slow warm-up frames first, then 1..5 ms: the median of what is left is 3
    figures = latency([900.0, 800.0, 1.0, 2.0, 3.0, 4.0, 5.0], warmup=2)
    assert figures["p50"] == 3.0
    assert figures["mean"] == 3.0
    assert figures["p99"] < 6.0


def test_summary_reports_measured_frames_not_warmup() -> None:
    done = [i * 10 * MS for i in range(1, 8)]
    figures = summary([5.0] * 7, done, warmup=3, start_ns=0, jobs=2)
    assert figures["frames"] == 4
    assert figures["warmup"] == 3
    assert figures["fps"] == pytest.approx(100.0)
    assert figures["jobs"] == 2
    assert figures["peak_rss_mb"] > 0


def _modes(**fps: float) -> dict[str, dict[str, float]]:
    return {mode: {"fps": value, "peak_rss_mb": 100.0} for mode, value in fps.items()}


def test_ratios_name_both_sides() -> None:
    results = _modes(bound=40.0, edgekit=30.0, edgekit_predecoded=36.0, edgekit_fp32=20.0, naive=10.0, anomalib=4.0)
    r = ratios(results)
    assert r["edgekit_vs_anomalib"] == 7.5
    assert r["edgekit_fp32_vs_anomalib"] == 5.0
    assert r["edgekit_predecoded_vs_bound"] == 0.9
    assert r["edgekit_vs_bound"] == 0.75
    assert r["fused_vs_naive"] == 2.0
    assert r["int8_vs_fp32"] == 1.8  # both pre-decoded: 36 / 20
    assert r["edgekit_vs_predecoded"] == round(30 / 36, 3)


def test_ratios_with_a_failed_or_missing_side_are_none() -> None:
    results = _modes(bound=40.0, edgekit=30.0)
    results["anomalib"] = {"failed": "no run"}
    r = ratios(results)
    assert r["edgekit_vs_anomalib"] is None
    assert r["edgekit_fp32_vs_anomalib"] is None
    assert r["edgekit_vs_bound"] == 0.75


def test_int8_vs_fp32_is_none_when_the_bundle_is_fp32() -> None:
    results = _modes(bound=40.0, edgekit_predecoded=30.0, edgekit_fp32=30.0)
    assert ratios(results, fp32_is_bundle=True)["int8_vs_fp32"] is None


@pytest.mark.parametrize(("modes", "frames", "warmup"), [(("bound", "fast"), 10, 2), (("bound",), 0, 2), ((), 10, 0)])
def test_bad_options_are_refused(modes: tuple[str, ...], frames: int, warmup: int) -> None:
    with pytest.raises(ConfigError, match="accepted: modes from"):
        check_options(modes, frames, warmup)
