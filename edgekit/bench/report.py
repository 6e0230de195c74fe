"""Tables and the chart of a benchmark result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit._extras import require

LABELS = {
    "bound": "bound (pure inference, async)",
    "edgekit": "edgekit runtime",
    "edgekit_fp32": "edgekit runtime, FP32",
    "naive": "naive OpenVINO (IR per tile)",
    "anomalib": "anomalib tiled ensemble (torch)",
}


def rows(result: dict[str, Any]) -> list[tuple[str, ...]]:
    """Table rows: mode, fps, latency p50/p95/p99, peak RSS, vs bound."""
    out: list[tuple[str, ...]] = [("mode", "fps", "p50 ms", "p95 ms", "p99 ms", "peak RSS MiB", "vs bound")]
    for mode, figures in result["modes"].items():
        if "failed" in figures:
            out.append((mode, "FAILED", figures["failed"][:60], "", "", "", ""))
            continue
        lat = figures["latency_ms"]
        vs = result["ratios"].get(f"{mode}_vs_bound")
        out.append(
            (
                mode,
                f"{figures['fps']:.2f}",
                f"{lat['p50']:.1f}",
                f"{lat['p95']:.1f}",
                f"{lat['p99']:.1f}",
                f"{figures['peak_rss_mb']:.0f}",
                "1.00" if mode == "bound" else (f"{vs:.2f}" if vs else "-"),
            )
        )
    return out


def markdown(result: dict[str, Any]) -> str:
    """The README's performance table, with the machine it ran on."""
    table = rows(result)
    lines = ["| " + " | ".join(table[0]) + " |", "|" + "---|" * len(table[0])]
    lines += ["| " + " | ".join(r) + " |" for r in table[1:]]
    m, s, r = result["machine"], result["setup"], result["ratios"]
    lines.append("")
    lines.append(
        f"{s['grid']}, {s['model']} + {s['backbone']}, {s['precision']} bundle, {s['frames']} frames after "
        f"{s['warmup']} warm-up, device {s['device']}; machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB, "
        f"load {m['load_avg_1m_at_start']} at start. Ratios: edgekit vs anomalib {r.get('edgekit_vs_anomalib')}, "
        f"fused vs naive (both FP32) {r.get('fused_vs_naive')}, "
        f"INT8 edgekit vs naive {r.get('edgekit_vs_naive')}, edgekit vs bound {r.get('edgekit_vs_bound')}, "
        f"INT8 vs FP32 {r.get('int8_vs_fp32')}."
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
