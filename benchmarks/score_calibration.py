"""Where the PaDiM ensemble's frame maximum sits, and whether standardizing the joined map helps (issue 12).

A 3x3 grid of 256 tiles at stride 128 on 512 covers the frame's corners with one tile, its edges with
two and its centre with four. The joined map averages the overlapping tiles' maps, so its noise is
not the same everywhere, and the frame score (the map's maximum) can favour the places with the
fewest tiles. This study measures that on the wide set and scores two standardizations of the raw
joined map, both fitted on the good images of the held-out validation folder (the images thresholds
are fitted on), never on the test split:

* ``coverage``: per coverage class (1, 2 or 4 tiles), ``(map - mean) / std`` over those pixels;
* ``pixel``: per pixel, mean and std over the validation frames, Gaussian-smoothed (sigma 32 px) and the
  std floored at half its median.

Image AUROC (score = the standardized map's maximum) and pixel AUPRO on the test split, for each, and
where the good test frames' maxima lie (share per coverage class, against its share of the area).
Nothing here changes edgekit: it is a study of a candidate join/score change, on the default
settings (PaDiM, lite0, ``--tiling image``). Runs are trained with ``edgekit train`` into ``--work``
when missing; predictions are cached there as ``CATEGORY.npz``.

    .venv/bin/python benchmarks/score_calibration.py --out build/bench/score_calibration.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EDGEKIT = Path(sys.executable).with_name("edgekit")
CATEGORIES = "grass,tissue,stars,cat,astronaut,logo,retina,rocket,coins,tray"


def predictions(category: str, data: Path, work: Path) -> dict[str, np.ndarray]:
    """Raw joined maps and scores of the test split and the validation folder (cached)."""
    cache = work / f"{category}.npz"
    if cache.exists():
        with np.load(cache) as z:
            return {k: z[k] for k in z.files}
    run = work / category
    if not (run / "training.json").exists():
        command = [str(EDGEKIT), "train", "--data", str(data / category), "--out", str(run), "--tiling", "image"]
        subprocess.run([*command, "--no-progress"], check=True, capture_output=True, text=True)
    from edgekit.data import load_split, scan_dataset
    from edgekit.data.mvtec import scan_validation
    from edgekit.train.infer import predict_frames
    from edgekit.train.run_io import load_run

    record, ensemble = load_run(run)
    grid = record.grid
    coverage = np.zeros(grid.image_hw, np.int32)
    for y0, x0, y1, x1 in grid.boxes:
        coverage[y0:y1, x0:x1] += 1
    test = load_split(scan_dataset(data / category).test, grid.image_hw, min_hw=grid.tile_hw, what="test split")
    val = load_split(
        scan_validation(data / "validation" / category), grid.image_hw, min_hw=grid.tile_hw, what="validation"
    )
    on_test = predict_frames(ensemble, test.images, progress=False)
    on_val = predict_frames(ensemble, val.images, progress=False)
    out = {
        "coverage": coverage,
        "test_maps": on_test.maps,
        "test_scores": on_test.scores,
        "test_labels": test.labels,
        "test_masks": test.masks,
        "val_maps": on_val.maps,
        "val_labels": val.labels,
    }
    np.savez(cache, **out)
    return out


def study(d: dict[str, np.ndarray]) -> dict[str, Any]:
    """Image AUROC and pixel AUPRO raw and standardized, and where the good frames' maxima lie."""
    from edgekit.evaluation import aupro, auroc

    labels, masks, maps, cov = d["test_labels"], d["test_masks"], d["test_maps"], d["coverage"]
    bad = labels == 1
    good_val = d["val_maps"][d["val_labels"] == 0]

    def scored(m: np.ndarray) -> dict[str, float]:
        return {
            "image_auroc": round(auroc(m.reshape(len(m), -1).max(1), labels), 4),
            "pixel_aupro": round(aupro(m[bad], masks[bad]), 4),
        }

    classes = [int(k) for k in np.unique(cov)]
    mean, std = np.zeros(cov.shape, np.float32), np.ones(cov.shape, np.float32)
    for k in classes:
        mean[cov == k], std[cov == k] = good_val[:, cov == k].mean(), good_val[:, cov == k].std()
    px_mean = cv2.GaussianBlur(good_val.mean(0), (0, 0), 32)
    px_std = cv2.GaussianBlur(good_val.std(0), (0, 0), 32)
    px_std = np.maximum(px_std, 0.5 * np.median(px_std))
    at = [cov[np.unravel_index(np.argmax(m), m.shape)] for m in maps[~bad]]
    raw = scored(maps)
    raw["image_auroc"] = round(auroc(d["test_scores"], labels), 4)  # the graph's own score: the same max
    return {
        "n_val_good": len(good_val),
        "raw": raw,
        "coverage": scored((maps - mean) / std),
        "pixel": scored((maps - px_mean) / px_std),
        "good_max_share": {k: round(float(np.mean([a == k for a in at])), 3) for k in classes},
        "area_share": {k: round(float((cov == k).mean()), 3) for k in classes},
        "val_good_std": {k: round(float(good_val[:, cov == k].std()), 2) for k in classes},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--categories", default=CATEGORIES)
    parser.add_argument("--data", type=Path, default=Path("/tmp/wide/full"), help="edgekit demo-data --set wide")
    parser.add_argument("--work", type=Path, default=ROOT / "build/bench/score_calibration")
    parser.add_argument("--out", type=Path, default=ROOT / "build/bench/score_calibration.json")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    results = {"command": " ".join(sys.argv), "categories": {}}
    for category in args.categories.split(","):
        results["categories"][category] = study(predictions(category, args.data, args.work))
        print(category, json.dumps(results["categories"][category]), flush=True)
        args.out.write_text(json.dumps(results, indent=2))
    print("\n| category | img AUROC raw / coverage / pixel | AUPRO raw / coverage / pixel | good maxima in corners "
          "(area) | validation std corners / edges / centre |")
    print("|---|---|---|---|---|")
    rows = results["categories"]
    for category, r in rows.items():
        auc = " / ".join(f"{r[s]['image_auroc']:.3f}" for s in ("raw", "coverage", "pixel"))
        pro = " / ".join(f"{r[s]['pixel_aupro']:.3f}" for s in ("raw", "coverage", "pixel"))
        std = " / ".join(f"{v:.2f}" for v in r["val_good_std"].values())
        print(f"| {category} | {auc} | {pro} | {r['good_max_share'][1]:.2f} ({r['area_share'][1]:.2f}) | {std} |")
    means = {s: {m: float(np.mean([r[s][m] for r in rows.values()])) for m in ("image_auroc", "pixel_aupro")}
             for s in ("raw", "coverage", "pixel")}
    auc = " / ".join(f"{means[s]['image_auroc']:.3f}" for s in means)
    pro = " / ".join(f"{means[s]['pixel_aupro']:.3f}" for s in means)
    print(f"| mean (n={len(rows)}) | {auc} | {pro} | | |")


if __name__ == "__main__":
    main()
