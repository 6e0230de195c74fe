"""How wide the final blur of the anomaly map should be (issue 12): a study on the wide set.

anomalib's PaDiM and PatchCore blur their upsampled anomaly map with a Gaussian of sigma 4 pixels of the
model's input. The 3x3 ensemble blurs its joined 512 px map with sigma 4 as well; single@tile (one model on
the frame resized to 256) blurs at 256 px, which is sigma 8 in frame pixels once its map is upsampled. On
retina's "missing" and "misplaced" defects (a part of the fundus gone or moved) the narrower blur is what
loses the ensemble its AUPRO against single@tile.

For each category and system (``ens``: the default ensemble; ``feat``: the ensemble with ``--tiling
features``; ``full``: one model on the 512 px frame; ``tile``: one model on the frame at 256 px, maps
upsampled to 512), the run is trained with
``edgekit train`` (cached in ``--work``), its maps on the test split predicted once, then blurred further so
that the total sigma in frame pixels is each of ``--sigmas`` (Gaussians compose: extra = sqrt(total^2 -
own^2)). Per total sigma: image AUROC (frame score = the map's maximum) and pixel AUPRO (defective and good
test frames, as ``edgekit evaluate``), and AUPRO per defect kind.

    .venv/bin/python benchmarks/map_sigma.py                    # 10 categories x ens,feat,full,tile
    .venv/bin/python benchmarks/map_sigma.py --report           # tables from the JSON only
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EDGEKIT = Path(sys.executable).with_name("edgekit")
CATEGORIES = "retina,logo,cat,coins,tissue,stars,grass,astronaut,rocket,tray"
SYSTEMS = {
    "ens": [],
    "feat": ["--tiling", "features"],  # the ensemble with the trunk run once per frame (issue 13)
    "full": ["--tile-size", "512", "--stride", "512"],
    "tile": ["--image-size", "256", "--tile-size", "256", "--stride", "256"],
}
OWN_SIGMA = 4.0  # anomalib's blur, in pixels of the model's input


def predict(category: str, system: str, data: Path, work: Path, extra: list[str]) -> dict[str, np.ndarray]:
    """Test maps at 512 px (upsampled where the model ran smaller), labels, masks, defect kinds."""
    run = work / category / system
    if not (run / "training.json").exists():
        command = [str(EDGEKIT), "train", "--data", str(data / category), "--out", str(run), "--no-progress"]
        subprocess.run([*command, *SYSTEMS[system], *extra], check=True, capture_output=True, text=True)
    from edgekit.data import load_split, scan_dataset
    from edgekit.train.evaluate import _predict_at
    from edgekit.train.run_io import load_run

    record, ensemble = load_run(run)
    test = load_split(scan_dataset(data / category).test, (512, 512), min_hw=record.grid.tile_hw, what="test")
    preds = _predict_at(ensemble, test, False, system)
    kinds = np.array([s.path.parent.name for s in test.samples])
    scale = 512 / record.grid.image_hw[0]
    return {"maps": preds.maps, "labels": test.labels, "masks": test.masks, "kinds": kinds, "scale": scale}


def scored(p: dict[str, Any], sigmas: list[float]) -> dict[str, Any]:
    from edgekit.evaluation import aupro, auroc

    own = OWN_SIGMA * p["scale"]
    out: dict[str, Any] = {"own_sigma_frame_px": own}
    for total in sigmas:
        if total < own:
            continue
        extra = math.sqrt(total**2 - own**2)
        maps = p["maps"].astype(np.float32)
        if extra > 0:
            maps = np.stack([cv2.GaussianBlur(m, (0, 0), extra, borderType=cv2.BORDER_REFLECT) for m in maps])
        row = {
            "image_auroc": auroc(maps.reshape(len(maps), -1).max(1), p["labels"]),
            "pixel_aupro": aupro(maps, p["masks"]),
        }
        for kind in sorted(set(p["kinds"].tolist()) - {"good"}):
            sel = (p["kinds"] == kind) | (p["kinds"] == "good")
            row[f"aupro_{kind}"] = aupro(maps[sel], p["masks"][sel])
        out[f"{total:g}"] = row
    return out


def report(results: dict[str, Any], sigmas: list[float]) -> str:
    lines = []
    head = " | ".join(f"sigma {s:g}" for s in sigmas)
    for metric in ("pixel_aupro", "image_auroc"):
        lines += [f"\n{metric} (total blur sigma in 512 px frame pixels)\n", f"| category | system | {head} |"]
        lines.append("|---|---|" + "---|" * len(sigmas))
        means: dict[tuple[str, str], list[float]] = {}
        for category, systems in results.items():
            for system, cells in systems.items():
                values = [cells.get(f"{s:g}", {}).get(metric) for s in sigmas]
                for s, v in zip(sigmas, values, strict=True):
                    if v is not None:
                        means.setdefault((system, f"{s:g}"), []).append(v)
                text = " | ".join("-" if v is None else f"{v:.3f}" for v in values)
                lines.append(f"| {category} | {system} | {text} |")
        for system in SYSTEMS:
            vals = [means.get((system, f"{s:g}"), []) for s in sigmas]
            text = " | ".join(f"{np.mean(v):.3f} (n={len(v)})" if v else "-" for v in vals)
            lines.append(f"| mean | {system} | {text} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/wide/full"), help="wide set root")
    parser.add_argument("--categories", default=CATEGORIES)
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--sigmas", default="4,6,8,12", help="total blur sigmas, in frame pixels")
    parser.add_argument("--extra", default="", help="more edgekit train options for every run")
    parser.add_argument("--out", type=Path, default=ROOT / "build/bench/map_sigma.json")
    parser.add_argument("--work", type=Path, default=ROOT / "build/bench/map_sigma_runs")
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args()
    sigmas = [float(s) for s in args.sigmas.split(",")]
    results: dict[str, Any] = json.loads(args.out.read_text()) if args.out.is_file() else {}
    if not args.report:
        for category in args.categories.split(","):
            for system in args.systems.split(","):
                if system in results.get(category, {}):
                    continue
                p = predict(category, system, args.data, args.work, args.extra.split())
                results.setdefault(category, {})[system] = scored(p, sigmas)
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps(results, indent=1))
                cells = results[category][system]
                print(category, system, {k: round(v["pixel_aupro"], 3) for k, v in cells.items() if k[0].isdigit()})
    print(report(results, sigmas))


if __name__ == "__main__":
    main()
