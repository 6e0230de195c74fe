"""How visible the wide set's defects are: each defect's contrast against the texture around it.

For every defective test frame, in CIE Lab: the distance between the mean colour of the mask's pixels
and the mean of a ring around it (the mask dilated by 6 px, minus the mask dilated by 1 px), over the
ring's own spread (the root of the summed per-channel variances). About 0 means the defect looks like
its surroundings on average; a dark crack on dark grass blades scores low, a white line on black sky
high. A first-order measure: a defect can differ in texture, not in mean colour, and still be seen.

    .venv/bin/python benchmarks/defect_salience.py --data /tmp/wide/full    # JSON to build/bench/
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
_RING = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (13, 13))
_GAP = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))


def salience(image_bgr: np.ndarray, mask: np.ndarray) -> float | None:
    """|mean Lab in the mask - mean Lab in a ring around it| / the ring's Lab spread (None: empty mask or ring)."""
    lab = cv2.cvtColor(image_bgr.astype(np.float32) / 255, cv2.COLOR_BGR2Lab)
    inside = mask > 0
    ring = (cv2.dilate(inside.astype(np.uint8), _RING) > 0) & ~(cv2.dilate(inside.astype(np.uint8), _GAP) > 0)
    if not inside.any() or not ring.any():
        return None
    spread = float(np.sqrt(lab[ring].var(axis=0).sum()))
    return float(np.linalg.norm(lab[inside].mean(axis=0) - lab[ring].mean(axis=0)) / max(spread, 1e-6))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/wide/full"), help="wide set root")
    parser.add_argument("--out", type=Path, default=ROOT / "build/bench/defect_salience.json")
    args = parser.parse_args()
    result: dict[str, dict] = {}
    for folder in sorted(p for p in args.data.iterdir() if (p / "defects.json").exists()):
        meta = json.loads((folder / "defects.json").read_text())
        by_kind: dict[str, list[float]] = {}
        empty = 0
        for name, entry in meta["images"].items():
            image = cv2.imread(str(folder / name), cv2.IMREAD_COLOR)
            mask = cv2.imread(str(folder / entry["mask"]), cv2.IMREAD_GRAYSCALE)
            for path, array in ((folder / name, image), (folder / entry["mask"], mask)):
                if array is None:
                    raise SystemExit(f"error: cannot read {path} (listed in {folder / 'defects.json'})")
            value = salience(image, mask)
            if value is None:
                empty += 1  # a mask with no pixels, or filling the frame: no ring to compare with
                continue
            by_kind.setdefault(entry["kind"], []).append(value)
        every = [v for values in by_kind.values() for v in values]
        result[folder.name] = {
            "scene": meta["scene"],
            "skipped_empty": empty,
            "median": float(np.median(every)),
            "share_under_0.5": float(np.mean(np.array(every) < 0.5)),
            "kinds": {k: float(np.median(v)) for k, v in sorted(by_kind.items())},
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    kinds = sorted({k for r in result.values() for k in r["kinds"]})
    print("| category | scene | median | share < 0.5 | " + " | ".join(kinds) + " |")
    print("|---" * (4 + len(kinds)) + "|")
    for name, r in result.items():
        cells = [f"{r['kinds'][k]:.2f}" if k in r["kinds"] else "-" for k in kinds]
        print(f"| {name} | {r['scene']} | {r['median']:.2f} | {r['share_under_0.5']:.2f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
