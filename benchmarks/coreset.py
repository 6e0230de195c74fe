"""Issue 12: PatchCore's coreset selection, anomalib's ``KCenterGreedy`` against ``edgekit.train.coreset``.

Both run on the same memory bank: one position of the default grid (512 px frames, 256 px tiles,
stride 128; the centre tile), ``--images`` defect-free frames per demo category rendered by
``edgekit.demo.scenes`` (deterministic), through edgekit's trunk and PatchCore family (the backbone's
blocks.2+4, 3x3 average-pooled: 32 x 32 patches per tile; 152 dims for lite0). 60 images give
61,440 vectors; the ratio defaults to edgekit's 0.01 (614 picks).

Per category: anomalib's ``KCenterGreedy(bank, ratio).select_coreset_idxs()`` (``--old-repeats``,
torch's thread count as training has it) and edgekit's ``select_coreset`` (``--repeats``; it runs its
loop on one thread), both seeded as ``PatchcoreFamily.finish`` seeds them and timed after a warm-up
import; whether the index lists are equal, and the fraction of anomalib's indices edgekit also picks.
The machine is shared: the 1-minute load average is recorded before and after each timing.

    .venv/bin/python benchmarks/coreset.py --categories gravel,coffee --json build/bench/coreset.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from anomalib.models.components.sampling.k_center_greedy import KCenterGreedy

from edgekit.bench.suite import machine
from edgekit.demo.scenes import DemoCategory, Scene
from edgekit.tiling import TileGrid, tile
from edgekit.train.config import TrainConfig
from edgekit.train.coreset import coreset_size, select_coreset
from edgekit.train.ensemble import TiledEnsemble, to_input

FRAME, TILE, STRIDE = 512, 256, 128


def memory_bank(category: str, images: int, backbone: str, seed: int) -> torch.Tensor:
    """PatchCore embeddings of the centre position's tiles of ``images`` rendered frames."""
    grid = TileGrid(FRAME, TILE, STRIDE)
    centre = grid.n_tiles // 2
    scene = Scene.load(DemoCategory(category), FRAME)
    rng = np.random.default_rng(seed)
    tiles = np.stack([tile(grid, scene.render(rng))[centre] for _ in range(images)])
    config = TrainConfig(
        data=Path("unused"), out=Path("unused"), model="patchcore", image_size=TILE, tile_size=TILE,
        stride=TILE, backbone=backbone, progress=False,
    )
    ensemble = TiledEnsemble.build(config)  # one position: the trunk sees exactly the centre tiles
    model = ensemble.positions[0]
    for first in range(0, images, 4):
        x = to_input(tiles[first : first + 4])
        with torch.no_grad():
            ensemble.family.observe(model, ensemble.shared_features(x), x)
    return torch.vstack(model.embedding_store)


def _seeded(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)  # anomalib's projection draws from numpy's global RNG


def _timed(fn: Any, seed: int) -> tuple[list[int], dict[str, float]]:
    _seeded(seed)
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter_ns()
    picks = fn()
    seconds = (time.perf_counter_ns() - t0) / 1e9
    return list(picks), {"s": seconds, "load_before": load_before, "load_after": os.getloadavg()[0]}


def measure(bank: torch.Tensor, ratio: float, repeats: int, old_repeats: int, seed: int) -> dict[str, Any]:
    """Old and new timings on one bank, and how their picks agree."""
    k = coreset_size(len(bank), ratio)
    new_runs, old_runs, new_picks, old_picks = [], [], [], []
    for _ in range(repeats):
        picks, timing = _timed(lambda: select_coreset(bank, k).tolist(), seed)
        new_runs.append(timing)
        new_picks.append(picks)
    for _ in range(old_repeats):
        picks, timing = _timed(lambda: KCenterGreedy(bank, ratio).select_coreset_idxs(), seed)
        old_runs.append(timing)
        old_picks.append(picks)
    assert all(p == new_picks[0] for p in new_picks), "edgekit's coreset is not deterministic"
    result: dict[str, Any] = {
        "vectors": len(bank),
        "dims": int(bank.shape[1]),
        "picks": k,
        "new_s": [round(r["s"], 3) for r in new_runs],
        "new_median_s": round(statistics.median(r["s"] for r in new_runs), 3),
        "new_load": [(round(r["load_before"], 2), round(r["load_after"], 2)) for r in new_runs],
    }
    if old_runs:
        old, new = old_picks[0], new_picks[0]
        result |= {
            "old_s": [round(r["s"], 3) for r in old_runs],
            "old_median_s": round(statistics.median(r["s"] for r in old_runs), 3),
            "old_load": [(round(r["load_before"], 2), round(r["load_after"], 2)) for r in old_runs],
            "indices_equal": old == new,
            "overlap": round(len(set(old) & set(new)) / len(set(old)), 4),
            "first_difference": next((i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b), None),
        }
        result["speedup"] = round(result["old_median_s"] / result["new_median_s"], 1)
    return result


def table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of the results."""
    head = ("category", "vectors x dims", "picks", "anomalib s", "edgekit s", "speedup", "same indices", "overlap")
    lines = [head]
    for r in rows:
        lines.append(
            (
                r["category"], f"{r['vectors']} x {r['dims']}", str(r["picks"]), str(r.get("old_median_s", "-")),
                str(r["new_median_s"]), str(r.get("speedup", "-")), str(r.get("indices_equal", "-")),
                str(r.get("overlap", "-")),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)) for line in lines)


def main() -> None:
    """Parse the options, measure each category, print the table and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--categories", default="gravel,coffee", help="Demo categories, comma-separated.")
    parser.add_argument("--images", type=int, default=60, help="Training images per position.")
    parser.add_argument("--ratio", type=float, default=0.01, help="Coreset ratio (edgekit's default).")
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--repeats", type=int, default=3, help="Timings of edgekit's selection (median).")
    parser.add_argument("--old-repeats", type=int, default=1, help="Timings of anomalib's (0: skip it).")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=Path("build/bench/coreset.json"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    report: dict[str, Any] = {
        "machine": machine(),
        "torch_threads": torch.get_num_threads(),
        "settings": {k: v for k, v in vars(args).items() if k != "json"},
        "results": [],
    }
    for category in args.categories.split(","):
        bank = memory_bank(category, args.images, args.backbone, args.seed)
        row = {"category": category, **measure(bank, args.ratio, args.repeats, args.old_repeats, args.seed)}
        report["results"].append(row)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))  # rewritten after every category
        print(json.dumps(row), flush=True)
    print(table(report["results"]))
    print(f"torch threads {report['torch_threads']}; load average before -> after each run is in {args.json}")


if __name__ == "__main__":
    main()
