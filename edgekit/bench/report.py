"""Tables and the chart of a benchmark result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit._extras import require

LABELS = {
    "bound": "bound (pure inference, async)",
    "edgekit": "edgekit runtime, decoding video",
    "edgekit_predecoded": "edgekit runtime, pre-decoded",
    "edgekit_fp32": "edgekit runtime FP32, pre-decoded",
    "naive": "naive OpenVINO (IR per tile)",
    "anomalib": "anomalib tiled ensemble (torch)",
}
#: What the latency columns measure, the same for every mode.
LATENCY = "latency = frame taken by the mode (a request free for it) -> its result"
FPS = "fps = results after the warm-up-th result / time from the warm-up-th result to the last"


def rows(result: dict[str, Any]) -> list[tuple[str, ...]]:
    """Table rows: mode, measured frames, fps, latency p50/p95/p99, peak RSS, vs bound."""
    out: list[tuple[str, ...]] = [
        ("mode", "frames", "fps", "latency p50 ms", "p95 ms", "p99 ms", "peak RSS MiB", "vs bound")
    ]
    for mode, figures in result["modes"].items():
        if "failed" in figures:
            out.append((mode, "FAILED", figures["failed"][:80], "", "", "", "", ""))
            continue
        lat = figures["latency_ms"]
        vs = result["ratios"].get(f"{mode}_vs_bound")
        out.append(
            (
                mode,
                str(figures["frames"]),
                f"{figures['fps']:.2f}",
                f"{lat['p50']:.1f}",
                f"{lat['p95']:.1f}",
                f"{lat['p99']:.1f}",
                f"{figures['peak_rss_mb']:.0f}",
                "1.00" if mode == "bound" else (f"{vs:.2f}" if vs else "-"),
            )
        )
    return out


def source_line(result: dict[str, Any]) -> str:
    """Where the frames came from and what decoding them costs."""
    s = result["setup"]
    looped = f", looped from {s['source_frames']}" if s["source_frames"] < s["frames"] + s["warmup"] else ""
    return (
        f"frames: {s['frames']} measured after {s['warmup']} warm-up{looped}, from {s['source_kind']} {s['source']} "
        f"({s['source_hw'][0]}x{s['source_hw'][1]}); decode {s['decode_ms']:.1f} ms/frame at the source, "
        f"{s['clip_decode_ms']:.1f} ms/frame for the lossless clip the edgekit mode streams"
    )


def ratio_line(result: dict[str, Any]) -> str:
    """The headline ratios, one line."""
    r = result["ratios"]
    names = (
        ("edgekit vs anomalib", "edgekit_vs_anomalib"),
        ("FP32 edgekit vs anomalib", "edgekit_fp32_vs_anomalib"),
        ("fused vs naive (both FP32)", "fused_vs_naive"),
        ("pre-decoded runtime vs bound", "edgekit_predecoded_vs_bound"),
        ("edgekit vs bound", "edgekit_vs_bound"),
        ("INT8 vs FP32", "int8_vs_fp32"),
    )
    return "ratios of fps: " + ", ".join(f"{label} {r.get(key)}" for label, key in names)


def markdown(result: dict[str, Any]) -> str:
    """The README's performance table, with the machine it ran on."""
    table = rows(result)
    lines = ["| " + " | ".join(table[0]) + " |", "|" + "---|" * len(table[0])]
    lines += ["| " + " | ".join(r) + " |" for r in table[1:]]
    m, s = result["machine"], result["setup"]
    lines.append("")
    lines.append(
        f"{s['grid']}, {s['model']} + {s['backbone']}, {s['precision']} bundle, device {s['device']}; "
        f"machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB, load {m['load_avg_1m_at_start']} at start. "
        f"{source_line(result)}. {FPS}; {LATENCY}. {ratio_line(result)}."
    )
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    """A PNG bar chart of frames/s and peak RSS per mode."""
    matplotlib = require("matplotlib", "train")
    matplotlib.use("Agg")
    plt = require("matplotlib.pyplot", "train")
    modes = [m for m, f in result["modes"].items() if "failed" not in f]
    fps = [result["modes"][m]["fps"] for m in modes]
    rss = [result["modes"][m]["peak_rss_mb"] for m in modes]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    ax1.barh([LABELS[m] for m in modes], fps, color="tab:blue")
    ax1.set_xlabel("frames / s (higher is better)")
    for y, v in enumerate(fps):
        ax1.text(v, y, f" {v:.2f}", va="center")
    ax2.barh([LABELS[m] for m in modes], rss, color="tab:orange")
    ax2.set_xlabel("peak RSS, MiB (lower is better)")
    ax2.set_yticks([])
    for y, v in enumerate(rss):
        ax2.text(v, y, f" {v:.0f}", va="center")
    m = result["machine"]
    fig.suptitle(
        f"edgekit bench: {result['setup']['grid']} {result['setup']['model']} on {m['cpu']} ({m['cores']} cores)"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
