"""Why the ensemble trails single@full in image AUROC on logo (issue 12): the frame's corners.

A 3x3 grid of 256 px tiles at stride 128 on 512 px covers each corner square (128 px) with one tile
and the centre with four, whose maps the join averages. The script trains (or reuses, in ``--work``)
the default ensemble and single@full with ``edgekit train`` through ``map_sigma.py``, predicts their
test maps as ``edgekit evaluate`` does, and reports per system: image AUROC with the frame score
taken over the whole map and over the map without the four corner squares, where the good frames'
maxima fall, and the median maxima of good and defective frames inside and outside the corners. And one
candidate frame score, measured here only (not in the graph): each coverage region (corners: one view,
edges: two, centre: four) standardized by the frame's own median and MAD there, the score the largest
of the regions' standardized maxima ("z by coverage"), and the same over the whole map ("z global").

    .venv/bin/python benchmarks/corner_noise.py --categories logo,cat,coins
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import map_sigma

ROOT = Path(__file__).resolve().parents[1]
CORNER = 128  # px of the 512 px frame covered by one tile of the 3x3 default grid


def coverage(size: int = 512, c: int = CORNER) -> np.ndarray:
    """How many tiles of the 3x3 grid cover each pixel: 1 (corners), 2 (edges) or 4 (centre)."""
    inner = np.zeros(size, bool)
    inner[c : size - c] = True
    return (1 + inner[:, None]) * (1 + inner[None, :])


def robust_z(values: np.ndarray) -> float:
    """The largest value's distance from the median, in MADs (scaled to a normal's sigma)."""
    med = np.median(values)
    return float((values.max() - med) / (1.4826 * np.median(np.abs(values - med)) + 1e-6))


def measure(p: dict[str, Any]) -> dict[str, Any]:
    """Image AUROC with and without the corners, and where and how high the maxima are."""
    from edgekit.evaluation import auroc

    maps, labels = p["maps"].astype(np.float32), p["labels"]
    cov = coverage(maps.shape[-1])
    mask = cov == 1  # the corner squares, one tile deep
    flat = maps.reshape(len(maps), -1)
    good = labels == 0
    at_corner = mask.reshape(-1)[flat.argmax(1)]
    corners, rest = maps[:, mask].max(1), maps[:, ~mask].max(1)
    z_cov = [max(robust_z(m[cov == k]) for k in (1, 2, 4)) for m in maps]
    return {
        "image_auroc": auroc(flat.max(1), labels),
        "image_auroc_z_by_coverage": auroc(np.array(z_cov), labels),
        "image_auroc_z_global": auroc(np.array([robust_z(m) for m in flat]), labels),
        "image_auroc_without_corners": auroc(rest, labels),
        "good_maxima_in_corners": f"{int(at_corner[good].sum())}/{int(good.sum())}",
        "good_corner_max_median": float(np.median(corners[good])),
        "good_rest_max_median": float(np.median(rest[good])),
        "defective_corner_max_median": float(np.median(corners[~good])),
        "defective_rest_max_median": float(np.median(rest[~good])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/wide/full"), help="wide set root")
    parser.add_argument("--categories", default="logo")
    parser.add_argument("--work", type=Path, default=ROOT / "build/bench/corner_noise_runs")
    parser.add_argument("--out", type=Path, default=ROOT / "build/bench/corner_noise.json")
    args = parser.parse_args()
    results = {}
    print(
        "| category | system | image AUROC | without corners | good maxima in corners | good max corner / rest | "
        "defective max corner / rest | z by coverage | z global |\n|---|---|---|---|---|---|---|---|---|"
    )
    for category in args.categories.split(","):
        for system in ("ens", "full"):
            r = measure(map_sigma.predict(category, system, args.data, args.work, []))
            results.setdefault(category, {})[system] = r
            print(
                f"| {category} | {system} | {r['image_auroc']:.3f} | {r['image_auroc_without_corners']:.3f} | "
                f"{r['good_maxima_in_corners']} | "
                f"{r['good_corner_max_median']:.2f} / {r['good_rest_max_median']:.2f} | "
                f"{r['defective_corner_max_median']:.2f} / {r['defective_rest_max_median']:.2f} | "
                f"{r['image_auroc_z_by_coverage']:.3f} | {r['image_auroc_z_global']:.3f} |"
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
