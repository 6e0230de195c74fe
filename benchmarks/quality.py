"""Detection quality on the wide benchmark set: models x systems x categories (issue 12).

For every (category, model, backbone) three systems are trained with ``edgekit train`` and evaluated with
``edgekit evaluate``, each in its own child process, one at a time:

* ``ensemble``: the tiled ensemble, frames at ``--size``, tiles of ``--tile`` at ``--stride`` (3x3 by default);
* ``single@tile``: one model, the frame resized to the tile size (image = tile = stride = ``--tile``);
* ``single@full``: one model on the whole frame (image = tile = stride = ``--size``).

Per cell: image AUROC and F1, pixel AUROC and AUPRO from ``edgekit evaluate --json``, all at ``--size``:
``edgekit evaluate`` scores a run at its own image size, so single@tile is rescored in a child (its raw maps
upsampled to ``--size`` against the ``--size`` masks, as ``edgekit evaluate --baselines`` does; its own-size
figures stay in ``metrics_own_size``). Also the threshold source written in the run's
``training.json`` (``data.val_source``), training wall time and peak RSS of the training child
(``/usr/bin/time -v``), and inference ms per frame: the run's ``graph/frame.xml`` (the FP32 whole-frame graph:
tiling, trunk, heads, join, score) compiled on the OpenVINO CPU plugin with an f32 precision hint and the
LATENCY hint, synchronous requests of one frame already resized to the system's image size (decode, resize and
post-processing are not included).

Every finished cell is written to the JSON at once; a rerun skips cells present with the same settings, so an
interrupted run continues where it stopped. ``--report`` only prints the tables and draws the PNG.

    .venv/bin/python benchmarks/quality.py                                   # 2 models x 3 systems x 10 categories
    .venv/bin/python benchmarks/quality.py --categories tissue --models padim --systems ensemble
    .venv/bin/python benchmarks/quality.py --models padim --extra "--n-features 100" --out build/bench/q_c100.json

Cells are keyed by model, backbone, system and category: give other ``--extra`` options their own ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EDGEKIT = [str(Path(sys.executable).with_name("edgekit"))]
CATEGORIES = ("grass", "tissue", "stars", "cat", "astronaut", "logo", "retina", "rocket", "coins", "tray")
SYSTEMS = ("ensemble", "single@tile", "single@full")
METRICS = ("image_auroc", "image_f1", "pixel_auroc", "pixel_aupro")
#: Defects under this fraction of the frame are "small" for the issue's target (0.1 %).
SMALL_AREA = 0.001
#: The issue's AUPRO margin of the ensemble over single@tile on small defects.
SMALL_MARGIN = 0.05


@dataclass(frozen=True)
class Cell:
    """One measurement: a system of a model and backbone on a category."""

    category: str
    model: str
    backbone: str
    system: str

    @property
    def key(self) -> str:
        return f"{self.model}|{self.backbone}|{self.system}|{self.category}"

    def grid(self, size: int, tile: int, stride: int) -> tuple[int, int, int]:
        """(image size, tile size, stride) of this system."""
        if self.system == "ensemble":
            return size, tile, stride
        side = tile if self.system == "single@tile" else size
        return side, side, side


def load_avg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def category_info(data: Path, category: str) -> dict[str, Any]:
    """Scene, size class and defect areas from the category's ``defects.json``."""
    path = data / category / "defects.json"
    if not path.is_file():
        return {"scene": "?", "size_class": "?", "median_area": float("nan")}
    info = json.loads(path.read_text())
    areas = info.get("test_area_fraction", {})
    return {
        "scene": info.get("scene", "?"),
        "size_class": info.get("size_class", "?"),
        "median_area": areas.get("median", float("nan")),
        "min_area": areas.get("min", float("nan")),
        "max_area": areas.get("max", float("nan")),
    }


def is_small(info: dict[str, Any]) -> bool:
    """The issue's "defects under 0.1 % of the frame": size class ``small`` or a median area below 0.1 %."""
    return info["size_class"] == "small" or info["median_area"] < SMALL_AREA


def ensure_data(data: Path | None, size: int, seed: int) -> Path:
    """The wide set: ``--data``, else the seed-0 512 px copy in /tmp/wide/full, else generated into build/."""
    if data is None:
        ready = Path("/tmp/wide/full")
        if size == 512 and seed == 0 and (ready / "wide.json").is_file():
            return ready
        data = ROOT / "build/bench/wide"
    if not (data / "wide.json").is_file():
        print(f"writing the wide set to {data}", file=sys.stderr)
        cmd = [*EDGEKIT, "demo-data", str(data), "--set", "wide", "--size", str(size), "--seed", str(seed)]
        subprocess.run([*cmd, "--no-progress"], check=True)
    return data


def timed(cmd: list[str], log: Path) -> dict[str, Any]:
    """Run a child under ``/usr/bin/time -v``: return code, wall s, user+sys CPU s and peak RSS (MiB)."""
    usage = log.with_suffix(".time")
    wrapper = ["/usr/bin/time", "-v", "-o", str(usage)] if Path("/usr/bin/time").is_file() else []
    t0 = time.perf_counter_ns()
    with log.open("w") as out:
        rc = subprocess.run([*wrapper, *cmd], stdout=out, stderr=subprocess.STDOUT, check=False).returncode
    result: dict[str, Any] = {"rc": rc, "wall_s": round((time.perf_counter_ns() - t0) / 1e9, 2)}
    if wrapper and usage.is_file():
        fields = dict(line.strip().rsplit(": ", 1) for line in usage.read_text().splitlines() if ": " in line)
        result["peak_rss_mb"] = round(int(fields.get("Maximum resident set size (kbytes)", 0)) / 1024, 1)
        cpu = float(fields.get("User time (seconds)", 0)) + float(fields.get("System time (seconds)", 0))
        result["cpu_s"] = round(cpu, 1)
    return result


def tail(log: Path, lines: int = 6) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.is_file() else ""


def infer_ms(run: Path, data: Path, record: dict[str, Any], frames: int) -> dict[str, Any]:
    """OpenVINO CPU FP32 latency of the run's whole-frame graph on test frames (sync, one frame per request)."""
    import cv2
    import openvino as ov

    from edgekit.perf import LatencyStats

    xml = run / record.get("graph", {}).get("xml", "graph/frame.xml")
    h, w = record["grid"]["image_hw"]
    paths = sorted((data / "test").glob("*/*.png"))
    paths = paths[:: max(1, len(paths) // frames)][:frames]  # spread over the defect kinds
    batch = []
    for path in paths:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        interp = cv2.INTER_AREA if bgr.shape[0] >= h else cv2.INTER_LINEAR
        rgb = cv2.cvtColor(cv2.resize(bgr, (w, h), interpolation=interp), cv2.COLOR_BGR2RGB)
        batch.append(np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0)
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
    compiled = ov.Core().compile_model(str(xml), "CPU", config)
    request = compiled.create_infer_request()
    warmup = 2
    samples = []
    for x in [*batch[:warmup], *batch]:
        t0 = time.perf_counter_ns()
        request.infer({0: x})
        samples.append((time.perf_counter_ns() - t0) / 1e6)
    stats = LatencyStats.from_ms(samples, warmup=warmup)
    return {**stats.to_dict(), "input_hw": [h, w], "what": "OpenVINO CPU f32, LATENCY hint, graph/frame.xml, sync"}


def run_cell(cell: Cell, args: argparse.Namespace, settings: dict[str, Any], train_flags: list[str]) -> dict[str, Any]:
    """Train, evaluate and time one cell; failures are recorded, not raised."""
    image, tile, stride = cell.grid(args.size, args.tile, args.stride)
    run = args.work / f"{cell.model}_{cell.backbone}" / cell.system.replace("@", "_at_") / cell.category
    if run.exists():
        shutil.rmtree(run)
    logs = run.parent / f"{cell.category}_logs"
    logs.mkdir(parents=True, exist_ok=True)
    data = args.data / cell.category
    out: dict[str, Any] = {**settings, "run": str(run), "load_start": load_avg()}
    train_cmd = [
        *EDGEKIT, "train", "--data", str(data), "--out", str(run), "--model", cell.model,
        "--image-size", str(image), "--tile-size", str(tile), "--stride", str(stride),
        "--backbone", cell.backbone, *train_flags, *shlex.split(args.extra),
    ]  # fmt: skip
    out["train_cmd"] = shlex.join(train_cmd)
    out["train"] = timed(train_cmd, logs / "train.log")
    if out["train"]["rc"] != 0:
        return {**out, "error": f"train exited {out['train']['rc']}: {tail(logs / 'train.log')}"}
    record = json.loads((run / "training.json").read_text())
    out["record_timing"] = record.get("timing", {})
    out["validation"] = {k: v for k, v in record.get("data", {}).items() if k.startswith(("val", "n_"))}
    out["validation"]["val_files"] = len(record.get("data", {}).get("val_files", []))
    out["thresholds"] = {k: record["thresholds"].get(k) for k in ("method", "detail")}
    out["state_mib_per_position"] = round(max(record.get("position_state_bytes", [0])) / 2**20, 2)
    metrics_json = logs / "evaluate.json"
    eval_cmd = [*EDGEKIT, "evaluate", str(run), "--data", str(data), "--json", str(metrics_json), "--no-progress"]
    out["evaluate"] = timed(eval_cmd, logs / "evaluate.log")
    if out["evaluate"]["rc"] != 0:
        return {**out, "error": f"evaluate exited {out['evaluate']['rc']}: {tail(logs / 'evaluate.log')}"}
    report = json.loads(metrics_json.read_text())
    out["metrics"] = out["metrics_own_size"] = {k: report[k] for k in METRICS}
    out["eval_details"] = report.get("details", {}).get("ensemble", {})
    out["n_test"], out["n_anomalous"] = report.get("n_test"), report.get("n_anomalous")
    try:
        out["infer_ms"] = infer_ms(run, data, record, args.infer_frames)
    except Exception as error:  # a timing failure must not lose the metrics
        out["infer_ms"] = {"error": f"{type(error).__name__}: {error}"}
    if image != args.size:
        out.update(rescore(Path(out["run"]), data, args.size, logs))
    out["load_end"] = load_avg()
    return out


def rescore(run: Path, data: Path, size: int, logs: Path) -> dict[str, Any]:
    """Metrics of a run at the common frame size, in a child: ``metrics`` replaced, ``metrics_own_size`` kept.

    ``edgekit evaluate`` scores a run at its own image size, so single@tile would be judged on 256 px masks
    and maps. Here its raw maps (OpenVINO, ``graph/frame.xml``) are upsampled to ``size`` and scored against
    the ``size`` masks, as ``edgekit evaluate --baselines`` does; frame scores and thresholds are unchanged.
    """
    result = logs / "rescore.json"
    cmd = [sys.executable, __file__, "--rescore", str(run), "--data", str(data), "--size", str(size)]
    cmd += ["--out", str(result)]
    info = timed(cmd, logs / "rescore.log")
    if info["rc"] != 0:
        return {"rescore_error": f"rescore exited {info['rc']}: {tail(logs / 'rescore.log')}"}
    metrics = json.loads(result.read_text())
    what = f"maps upsampled to {size}x{size}, masks at {size}x{size} (OpenVINO FP32 graph/frame.xml)"
    return {"metrics": {k: metrics[k] for k in METRICS}, "metrics_at": what}


def rescore_child(run: Path, data: Path, size: int, out: Path) -> None:
    """The ``--rescore`` child: predict with the run's FP32 graph, upsample, score at ``size``."""
    import cv2
    import openvino as ov

    from edgekit.artifacts.record import Thresholds
    from edgekit.data import load_split, scan_dataset
    from edgekit.evaluation import split_metrics

    record = json.loads((run / "training.json").read_text())
    h, w = record["grid"]["image_hw"]
    test = load_split(scan_dataset(data, need_test=True).test, (size, size), what="test split")
    compiled = ov.Core().compile_model(str(run / "graph/frame.xml"), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    maps, scores = [], []
    for image in test.images:
        interp = cv2.INTER_AREA if h < size else cv2.INTER_LINEAR  # as edgekit.train.evaluate resizes
        rgb = cv2.cvtColor(cv2.resize(image, (w, h), interpolation=interp), cv2.COLOR_BGR2RGB)
        result = compiled({0: rgb.transpose(2, 0, 1)[None].astype(np.float32) / 255.0})
        raw = np.asarray(result[compiled.output("raw_map")])[0, 0]
        maps.append(cv2.resize(raw, (size, size), interpolation=cv2.INTER_LINEAR))
        scores.append(float(np.asarray(result[compiled.output("raw_score")]).reshape(-1)[0]))
    thresholds = Thresholds(**record["thresholds"])
    metrics = split_metrics(np.array(scores), test.labels, np.stack(maps), test.masks, thresholds)
    out.write_text(json.dumps(metrics, default=float))


def train_options() -> tuple[list[str], str]:
    """Flags from ``edgekit train --help``: ``--no-progress`` if offered, and the validation choice."""
    text = subprocess.run([*EDGEKIT, "train", "--help"], capture_output=True, text=True, check=True).stdout
    return (["--no-progress"] if "--no-progress" in text else []), text


def save(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=2, default=float))
    tmp.replace(path)


def fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.3f}"


def metric(cells: dict[str, Any], cell: Cell, name: str) -> float | None:
    found = cells.get(cell.key)
    return None if found is None or "metrics" not in found else found["metrics"][name]


def model_table(cells: dict[str, Any], infos: dict[str, Any], model: str, backbone: str, cats: list[str]) -> list[str]:
    """Markdown: per category, image AUROC and AUPRO per system, and the ensemble's AUPRO deltas."""
    head = ["category", "scene", "size (median area)"]
    for system in SYSTEMS:
        head += [f"{system} img AUROC", f"{system} AUPRO"]
    head += ["ens - full AUPRO", "ens - tile AUPRO"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    columns: list[list[float]] = [[] for _ in range(2 * len(SYSTEMS) + 2)]
    for cat in cats:
        info = infos[cat]
        row = [cat, info["scene"], f"{info['size_class']} ({100 * info['median_area']:.3f} %)"]
        values = []
        for system in SYSTEMS:
            c = Cell(cat, model, backbone, system)
            values += [metric(cells, c, "image_auroc"), metric(cells, c, "pixel_aupro")]
        ens, full, tiles = values[1], values[5], values[3]
        values += [None if None in (ens, full) else ens - full, None if None in (ens, tiles) else ens - tiles]
        for i, v in enumerate(values):
            if v is not None:
                columns[i].append(v)
        row += [fmt(v) for v in values[:-2]] + [signed(v) for v in values[-2:]]
        lines.append("| " + " | ".join(row) + " |")
    means = [statistics.fmean(c) if c else None for c in columns]
    counts = {len(c) for c in columns if c}
    label = f"mean (n={'/'.join(str(n) for n in sorted(counts))})"
    row = [label, "", "", *(fmt(v) for v in means[:-2]), *(signed(v) for v in means[-2:])]
    lines.append("| " + " | ".join(row) + " |")
    return lines


def flags(cells: dict[str, Any], infos: dict[str, Any], model: str, backbone: str, cats: list[str]) -> list[str]:
    """The issue's targets for one model: PASS / MISS with the categories that miss."""
    out = []
    for name, label in (("image_auroc", "image AUROC"), ("pixel_aupro", "pixel AUPRO")):
        misses, seen = [], 0
        for cat in cats:
            ens = metric(cells, Cell(cat, model, backbone, "ensemble"), name)
            full = metric(cells, Cell(cat, model, backbone, "single@full"), name)
            if None not in (ens, full):
                seen += 1
                if ens < full:
                    misses.append(f"{cat} {ens - full:+.3f}")
        verdict = "MISS" if misses else ("PASS" if seen == len(cats) else "PASS so far" if seen else "not measured")
        out.append(
            f"- ensemble >= single@full in {label} on every category ({seen}/{len(cats)} measured): "
            f"{verdict}{': ' + ', '.join(misses) if misses else ''}"
        )
    small = [cat for cat in cats if is_small(infos[cat])]
    misses, passes = [], []
    for cat in small:
        ens = metric(cells, Cell(cat, model, backbone, "ensemble"), "pixel_aupro")
        tiles = metric(cells, Cell(cat, model, backbone, "single@tile"), "pixel_aupro")
        if None not in (ens, tiles):
            (passes if ens - tiles >= SMALL_MARGIN else misses).append(f"{cat} {ens - tiles:+.3f}")
    verdict = (
        "MISS" if misses else ("PASS" if len(passes) == len(small) else "PASS so far" if passes else "not measured")
    )
    out.append(
        f"- ensemble - single@tile AUPRO >= {SMALL_MARGIN} where defects < 0.1 % of the frame "
        f"({', '.join(small) or 'none'}): {verdict}; " + ", ".join(passes + misses)
    )
    return out


def cost_table(cells: dict[str, Any], model: str, backbone: str, cats: list[str]) -> list[str]:
    """Markdown: per system, means over categories of train wall s, peak RSS, state and inference ms."""
    lines = [
        "| system | img F1 | px AUROC | train s | train CPU s | peak RSS MiB | MiB/position | infer ms p50 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for system in SYSTEMS:
        found = [cells[k] for cat in cats if (k := Cell(cat, model, backbone, system).key) in cells]
        found = [c for c in found if "metrics" in c]
        if not found:
            continue

        def mean(get: Any, rows: list[dict[str, Any]] = found) -> float | None:
            values = [v for c in rows if (v := get(c)) is not None]
            return statistics.fmean(values) if values else None

        row = [
            f"{system} (n={len(found)})",
            fmt(mean(lambda c: c["metrics"]["image_f1"])),
            fmt(mean(lambda c: c["metrics"]["pixel_auroc"])),
            fmt(mean(lambda c: c["train"]["wall_s"]), 0),
            fmt(mean(lambda c: c["train"].get("cpu_s")), 0),
            fmt(mean(lambda c: c["train"].get("peak_rss_mb")), 0),
            fmt(mean(lambda c: c.get("state_mib_per_position")), 1),
            fmt(mean(lambda c: c.get("infer_ms", {}).get("p50")), 1),
        ]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def cell_table(cells: dict[str, Any]) -> list[str]:
    """Markdown: every cell with all metrics, timings and the threshold source."""
    lines = [
        "| model | backbone | system | category | img AUROC | img F1 | px AUROC | AUPRO | AUPRO own size | train s | "
        "CPU s | RSS MiB | infer ms | thresholds from |",
        "|" + "---|" * 14,
    ]
    for c in cells.values():
        if "metrics" not in c:
            lines.append(
                f"| {c['model']} | {c['backbone']} | {c['system']} | {c['category']} | FAILED: "
                f"{c.get('error', '?').splitlines()[0][:80]} |"
            )
            continue
        m, t = c["metrics"], c["train"]
        source = c.get("validation", {}).get("val_source", "?")
        own = c.get("metrics_own_size", m)["pixel_aupro"] if "metrics_at" in c else None
        lines.append(
            "| "
            + " | ".join(
                [
                    c["model"],
                    c["backbone"],
                    c["system"],
                    c["category"],
                    *(fmt(m[k]) for k in METRICS),
                    fmt(own),
                    fmt(t["wall_s"], 0),
                    fmt(t.get("cpu_s"), 0),
                    fmt(t.get("peak_rss_mb"), 0),
                    fmt(c.get("infer_ms", {}).get("p50"), 1),
                    source.split(" from ")[0],
                ]
            )
            + " |"
        )
    return lines


def plot(cells: dict[str, Any], groups: list[tuple[str, str]], cats: list[str], png: Path) -> None:
    """Grouped bars of pixel AUPRO per category and system, one panel per model and backbone."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(groups), 1, figsize=(max(8, 1.1 * len(cats)), 3.2 * len(groups)), squeeze=False)
    width = 0.8 / len(SYSTEMS)
    x = np.arange(len(cats))
    for ax, (model, backbone) in zip(axes[:, 0], groups, strict=True):
        for i, system in enumerate(SYSTEMS):
            values = [metric(cells, Cell(cat, model, backbone, system), "pixel_aupro") for cat in cats]
            ax.bar(x + (i - 1) * width, [np.nan if v is None else v for v in values], width, label=system)
        ax.set_xticks(x, cats)
        ax.set_ylim(0, 1.15)
        ax.set_xlim(-0.6, len(cats) - 0.4)
        ax.set_ylabel("pixel AUPRO")
        ax.set_title(f"{model} / {backbone}")
        ax.grid(axis="y", alpha=0.3)
    axes[0, 0].legend(ncol=len(SYSTEMS), fontsize="small", loc="upper center")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    plt.close(fig)


def report_text(cells: dict[str, Any], infos: dict[str, Any], groups: list[tuple[str, str]], cats: list[str]) -> str:
    parts = []
    for model, backbone in groups:
        parts += [f"### {model} / {backbone}", "", *model_table(cells, infos, model, backbone, cats), ""]
        parts += ["Targets (issue 12):", *flags(cells, infos, model, backbone, cats), ""]
        parts += ["Means over the measured categories:", "", *cost_table(cells, model, backbone, cats), ""]
    parts += ["### Every cell", "", *cell_table(cells), ""]
    return "\n".join(parts)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="Wide set root (default: /tmp/wide/full, else build/bench/wide)")
    parser.add_argument("--categories", default=",".join(CATEGORIES))
    parser.add_argument("--models", default="padim,patchcore")
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--backbones", default="efficientnet_lite0")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--stride", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0, help="Seed of the generated data (if generated)")
    parser.add_argument("--val-split", default="auto", help="edgekit train --val-split (if the CLI offers it)")
    parser.add_argument("--extra", default="", help='More edgekit train options, e.g. "--n-features 100"')
    parser.add_argument("--infer-frames", type=int, default=20, help="Test frames timed per cell")
    parser.add_argument("--budget-min", type=float, default=0, help="Start no new cell after this many minutes")
    parser.add_argument("--out", type=Path, default=ROOT / "build/bench/quality.json")
    parser.add_argument("--png", type=Path, default=ROOT / "build/bench/quality.png")
    parser.add_argument("--work", type=Path, default=ROOT / "build/bench/quality_runs")
    parser.add_argument("--report", action="store_true", help="Only print the tables and draw the PNG")
    parser.add_argument("--rescore", type=Path, help=argparse.SUPPRESS)  # child mode, see rescore()
    args = parser.parse_args()
    for name in ("categories", "models", "systems", "backbones"):
        setattr(args, name, [s.strip() for s in getattr(args, name).split(",") if s.strip()])
    unknown = sorted(set(args.systems) - set(SYSTEMS))
    if unknown:
        parser.error(f"unknown system(s) {', '.join(unknown)}; accepted: {', '.join(SYSTEMS)}")
    return args


def main() -> None:
    args = parse()
    if args.rescore:
        rescore_child(args.rescore, args.data, args.size, args.out)
        return
    report: dict[str, Any] = json.loads(args.out.read_text()) if args.out.is_file() else {}
    cells: dict[str, Any] = report.setdefault("cells", {})
    groups = [(m, b) for m in args.models for b in args.backbones]
    if not args.report:
        args.data = ensure_data(args.data, args.size, args.seed).resolve()
        progress_flags, help_text = train_options()
        val_flags = ["--val-split", args.val_split] if "--val-split" in help_text else []
        if val_flags and args.val_split not in help_text:
            sys.exit(f"edgekit train --val-split does not offer {args.val_split!r}; see edgekit train --help")
        started = time.perf_counter()
        session = {
            "command": shlex.join(sys.argv),
            "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "load_start": load_avg(),
            "ran": [],
            "skipped_budget": [],
        }
        from edgekit.bench.suite import machine

        report["machine"] = machine()
        report.setdefault("sessions", []).append(session)
        for model, backbone in groups:
            for cat in args.categories:
                for system in args.systems:
                    cell = Cell(cat, model, backbone, system)
                    image, tile, stride = cell.grid(args.size, args.tile, args.stride)
                    settings = {
                        "category": cat, "model": model, "backbone": backbone, "system": system,
                        "image_size": image, "tile_size": tile, "stride": stride, "extra": args.extra,
                        "val_split": args.val_split if val_flags else "(not offered)", "data": str(args.data),
                    }  # fmt: skip
                    done = cells.get(cell.key)
                    if done and "metrics" in done and all(done.get(k) == v for k, v in settings.items()):
                        if image != args.size and "metrics_at" not in done:  # measured before rescoring existed
                            logs = Path(done["run"]).parent / f"{cat}_logs"
                            done.setdefault("metrics_own_size", done["metrics"])
                            done.update(rescore(Path(done["run"]), args.data / cat, args.size, logs))
                            save(args.out, report)
                        continue
                    minutes = (time.perf_counter() - started) / 60
                    if args.budget_min and minutes > args.budget_min:
                        session["skipped_budget"].append(cell.key)
                        continue
                    print(f"[{minutes:5.1f} min, load {load_avg()[0]}] {cell.key}", file=sys.stderr, flush=True)
                    result = run_cell(cell, args, settings, progress_flags + val_flags)
                    result["info"] = category_info(args.data, cat)
                    cells[cell.key] = result
                    session["ran"].append(cell.key)
                    session["load_end"] = load_avg()
                    session["minutes"] = round((time.perf_counter() - started) / 60, 2)
                    save(args.out, report)
                    if "error" in result:
                        print(f"  FAILED: {result['error']}", file=sys.stderr)
                    else:
                        m = result["metrics"]
                        print(
                            f"  img AUROC {m['image_auroc']:.3f}  AUPRO {m['pixel_aupro']:.3f}  "
                            f"train {result['train']['wall_s']:.0f} s",
                            file=sys.stderr,
                            flush=True,
                        )
        session["load_end"] = load_avg()
        session["minutes"] = round((time.perf_counter() - started) / 60, 2)
        save(args.out, report)
    data = Path(args.data) if args.data else Path(next(iter(cells.values()), {}).get("data", "/tmp/wide/full"))
    infos = {cat: category_info(data, cat) for cat in args.categories}
    text = report_text(cells, infos, groups, args.categories)
    print(text)
    args.out.with_suffix(".md").write_text(text)
    plot(cells, groups, args.categories, args.png)
    print(f"JSON {args.out}, markdown {args.out.with_suffix('.md')}, PNG {args.png}", file=sys.stderr)


if __name__ == "__main__":
    main()
