"""How much issue 12's margins move with PaDiM's seed: the same cells trained with seeds 0, 1, 2.

PaDiM keeps a random subset of the trunk's channels (anomalib's ``idx``, 50 of 152 for lite0's
blocks.2+4), drawn from ``--seed``. The quality table is one seed per cell; this script puts the
ensemble's margins over single@full (image AUROC, pixel AUPRO) and over single@tile (AUPRO) side by
side for every seed measured, with their mean, from ``map_sigma.py`` result files (sigma 4 for the
ensemble and single@full, single@tile at its own blur, sigma 8 in frame pixels: each system as
``edgekit evaluate`` scores it).

    .venv/bin/python benchmarks/map_sigma.py --sigmas 4,8 --systems ens,full,tile --categories logo,coins,retina \\
        --extra "--seed 1" --out build/bench/seed1.json --work build/bench/seed1_runs
    .venv/bin/python benchmarks/seed_spread.py \\
        --seed 0=build/bench/map_sigma_reg001.json,build/bench/seed0tile.json \\
        --seed 1=build/bench/seed1.json --seed 2=build/bench/seed2.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def load(spec: str) -> tuple[str, dict[str, dict[str, Any]]]:
    """``SEED=FILE[,FILE...]``: the map_sigma cells of one seed, later files adding systems."""
    seed, _, files = spec.partition("=")
    cells: dict[str, dict[str, Any]] = {}
    for name in files.split(","):
        for category, systems in json.loads(Path(name).read_text()).items():
            cells.setdefault(category, {}).update(systems)
    return seed, cells


def margins(systems: dict[str, Any]) -> dict[str, float]:
    """Image AUROC and AUPRO of each system as edgekit evaluate scores it, and the ensemble's margins."""
    out: dict[str, float] = {}
    for system, sigma in (("ens", "4"), ("full", "4"), ("tile", "8")):
        cell = systems.get(system, {}).get(sigma)
        if cell:
            out[f"{system}_auroc"], out[f"{system}_aupro"] = cell["image_auroc"], cell["pixel_aupro"]
    if "ens_auroc" in out and "full_auroc" in out:
        out["ens_full_auroc"] = out["ens_auroc"] - out["full_auroc"]
        out["ens_full_aupro"] = out["ens_aupro"] - out["full_aupro"]
    if "ens_aupro" in out and "tile_aupro" in out:
        out["ens_tile_aupro"] = out["ens_aupro"] - out["tile_aupro"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", action="append", required=True, help="SEED=FILE[,FILE...] (map_sigma JSON)")
    parser.add_argument("--out", type=Path, default=ROOT / "build/bench/seed_spread.json")
    args = parser.parse_args()
    seeds = dict(load(spec) for spec in args.seed)
    categories = list(dict.fromkeys(c for cells in seeds.values() for c in cells))
    table = {c: {s: margins(cells.get(c, {})) for s, cells in seeds.items()} for c in categories}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(table, indent=1))
    names = list(seeds)
    head = " | ".join(f"seed {s}" for s in names)
    for key, title in (
        ("ens_full_auroc", "ensemble - single@full, image AUROC"),
        ("ens_full_aupro", "ensemble - single@full, pixel AUPRO"),
        ("ens_tile_aupro", "ensemble - single@tile, pixel AUPRO"),
    ):
        print(f"\n{title}\n\n| category | {head} | mean | min |\n|---|" + "---|" * (len(names) + 2))
        for category, per_seed in table.items():
            values = [per_seed[s].get(key) for s in names]
            known = [v for v in values if v is not None]
            if not known:
                continue
            text = " | ".join("-" if v is None else f"{v:+.3f}" for v in values)
            print(f"| {category} | {text} | {np.mean(known):+.3f} (n={len(known)}) | {min(known):+.3f} |")


if __name__ == "__main__":
    main()
