"""PaDiM's covariance ridge (``--cov-reg``) across the wide set: ensemble and single@full (issue 12).

PaDiM inverts each patch's covariance after adding ``reg * I`` (anomalib: 0.01). Where a patch's
features barely vary over the training frames (flat, bright background: logo's white corners) that
ridge is the whole covariance in most directions, and a small lighting change gives a large
Mahalanobis distance: good frames then score their maximum there. This sweep trains PaDiM (lite0,
the other defaults) in process for every (category, system, reg) and scores the test split:

* ``ens``: the 3x3 ensemble (512 px, tiles 256, stride 128, ``--tiling image``);
* ``full``: one PaDiM on the whole 512 px frame (single@full).

Image AUROC (score = map maximum) and pixel AUPRO over the defective test frames (as
``feature_tiling.py`` computes it; ``edgekit evaluate`` also counts the good frames' pixels as false
positives, so its AUPRO reads about 0.01 higher on these categories). Runs are deleted after scoring;
finished cells are kept in the JSON and skipped on a rerun.

    .venv/bin/python benchmarks/cov_reg.py --regs 0.01,0.1,1.0 --systems ens,full
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CATEGORIES = "grass,tissue,stars,cat,astronaut,logo,retina,rocket,coins,tray"


def cell(data: Path, category: str, system: str, reg: float, work: Path) -> dict[str, float]:
    """Train one system with this ridge, score it on the test split, delete the run."""
    from edgekit.data import load_split, scan_dataset
    from edgekit.evaluation import aupro, auroc
    from edgekit.train.config import TrainConfig
    from edgekit.train.fit import train
    from edgekit.train.infer import predict_frames

    out = work / f"{category}_{system}_{reg}"
    shutil.rmtree(out, ignore_errors=True)
    size = {"image_size": 512, "tile_size": 512, "stride": 512} if system == "full" else {}
    config = TrainConfig(data=data / category, out=out, tiling="image", cov_reg=reg, progress=False, **size)
    result = train(config)
    grid = result.record.grid
    test = load_split(scan_dataset(data / category).test, grid.image_hw, min_hw=grid.tile_hw, what="test split")
    preds = predict_frames(result.ensemble, test.images, progress=False)
    bad = test.labels == 1
    shutil.rmtree(out, ignore_errors=True)
    return {
        "image_auroc": round(auroc(preds.scores, test.labels), 4),
        "pixel_aupro": round(aupro(preds.maps[bad], test.masks[bad]), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--categories", default=CATEGORIES)
    parser.add_argument("--regs", default="0.01,0.1")
    parser.add_argument("--systems", default="ens,full")
    parser.add_argument("--data", type=Path, default=Path("/tmp/wide/full"), help="edgekit demo-data --set wide")
    parser.add_argument("--work", type=Path, default=ROOT / "build/bench/cov_reg")
    parser.add_argument("--out", type=Path, default=ROOT / "build/bench/cov_reg.json")
    args = parser.parse_args()
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    results["command"] = " ".join(sys.argv)
    cells = results.setdefault("cells", {})
    categories, regs, systems = args.categories.split(","), args.regs.split(","), args.systems.split(",")
    for category in categories:
        for system in systems:
            for reg in regs:
                key = f"{category}|{system}|{float(reg)}"
                if key not in cells:
                    cells[key] = cell(args.data, category, system, float(reg), args.work)
                    args.out.parent.mkdir(parents=True, exist_ok=True)
                    args.out.write_text(json.dumps(results, indent=2))
                print(key, cells[key], flush=True)
    print("\n| category | " + " | ".join(f"{s} reg {r}" for s in systems for r in regs) + " |")
    print("|---|" + "---|" * (len(systems) * len(regs)))
    for category in categories:
        row = [cells.get(f"{category}|{s}|{float(r)}") for s in systems for r in regs]
        text = [f"{c['image_auroc']:.3f} / {c['pixel_aupro']:.3f}" if c else "-" for c in row]
        print(f"| {category} | " + " | ".join(text) + " |")


if __name__ == "__main__":
    main()
