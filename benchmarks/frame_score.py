"""Which frame score rule (issue 12): candidate rules on the raw joined maps, 10 categories x seeds.

The frame score used to be the joined map's maximum. A 3x3 grid of 256 px tiles at stride 128 covers each
corner square with one tile and the centre with four, whose maps the join averages: the corners keep one
model's noise, the centre a four-view average, so good frames peak in the corners (``corner_noise.py``).
Each run is trained with ``edgekit train ... --seed S`` (in ``--work``, deleted once its maps are saved:
``--maps``, float16 raw joined maps of the test split and of the held-out validation images); every rule
is then scored on the same saved maps:

- ``max``: the map's maximum.
- ``z_coverage``: edgekit's rule (:func:`edgekit.tiling.coverage_z`, ``--score z_coverage``): per group of
  pixels covered by the same number of tiles, the group's maximum minus the frame's own median there, over
  1.4826 x its MAD (median and MAD on every 8th pixel), and the same from the median and MAD of the group's
  pixels pooled over the good validation frames (the reference ``edgekit train`` fits); the frame score the
  largest of these.
- ``z_frame``: its frame-relative term alone (blind to a frame that is anomalous everywhere).
- ``z_mad1`` / ``z_mad8``: the frame-relative term with numpy's median on every pixel / every 8th pixel.
- ``z_std4``: the frame's own mean and standard deviation per group instead of median and MAD.
- ``cal``: each group's maximum standardized by the mean and standard deviation of that group's maximum over
  the good validation frames (fitted, not per frame).

Single@full has one group, so its ``z_*`` rules are the whole map's robust z.

    .venv/bin/python benchmarks/frame_score.py --seeds 0,1,2            # trains what is missing
    .venv/bin/python benchmarks/frame_score.py --report                 # tables from the saved maps only
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from map_sigma import CATEGORIES, EDGEKIT, SYSTEMS

ROOT = Path(__file__).resolve().parents[1]
RULES = ("max", "z_mad", "z_mad4", "z_std", "cal")


def run_folder(work: Path, seed: int, category: str, system: str, data: Path, extra: list[str]) -> Path:
    """The trained run (trained with ``edgekit train`` when missing; ``extra`` options added)."""
    run = work / f"seed{seed}" / category / system
    if not (run / "training.json").exists():
        command = [str(EDGEKIT), "train", "--data", str(data / category), "--out", str(run), "--no-progress"]
        command += [*SYSTEMS[system], "--seed", str(seed), *extra]
        subprocess.run(command, check=True, capture_output=True, text=True)
    return run


def cell(run: Path, category: str, data: Path, out: Path) -> None:
    """Raw joined maps (float16) and labels of a run's test and validation frames, to ``out`` (.npz)."""
    from edgekit.data import load_split, scan_dataset
    from edgekit.data.mvtec import scan_validation, validation_folder
    from edgekit.train.infer import predict_frames
    from edgekit.train.run_io import load_run

    record, ensemble = load_run(run)
    arrays: dict[str, np.ndarray] = {}
    splits = {
        "test": scan_dataset(data / category).test,
        "val": scan_validation(validation_folder(data / category)),
    }
    for name, samples in splits.items():
        split = load_split(samples, record.grid.image_hw, min_hw=record.grid.tile_hw, what=name)
        preds = predict_frames(ensemble, split.images, progress=False, desc=name)
        arrays[f"{name}_maps"] = preds.maps.astype(np.float16)
        arrays[f"{name}_labels"] = split.labels
        arrays[f"{name}_scores"] = preds.scores  # the run's own score rule (max unless --extra says otherwise)
    arrays["grid"] = np.array([*record.grid.image_hw, *record.grid.tile_hw, *record.grid.stride_hw])
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **arrays)


def _z(maps: np.ndarray, groups: tuple, step: int, stat: str) -> np.ndarray:
    """Per frame, the largest group's (max - centre) / spread, centre and spread on every step-th pixel."""
    out = []
    for m in maps:
        sub = m[::step, ::step]
        best = -np.inf
        for group in groups:
            boxes = group.boxes
            top = max(float(m[y0:y1, x0:x1].max()) for y0, x0, y1, x1 in boxes)
            v = np.concatenate(
                [
                    sub[-(-y0 // step) : -(-y1 // step), -(-x0 // step) : -(-x1 // step)].ravel()
                    for y0, x0, y1, x1 in boxes
                ]
            )
            if stat == "mad":
                med = np.median(v)
                best = max(best, (top - med) / (1.4826 * np.median(np.abs(v - med)) + 1e-6))
            else:
                best = max(best, (top - v.mean()) / (v.std() + 1e-6))
        out.append(best)
    return np.array(out)


def rule_scores(cell: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every rule's scores of the test frames of one cell."""
    from edgekit.tiling import TileGrid, coverage_groups, coverage_z, fit_coverage_reference

    h, w, th, tw, sh, sw = (int(v) for v in cell["grid"])
    grid = TileGrid((h, w), (th, tw), (sh, sw))
    groups = coverage_groups(grid)
    test = cell["test_maps"].astype(np.float32)
    val = cell["val_maps"].astype(np.float32)

    def region_max(maps: np.ndarray) -> np.ndarray:
        return np.array(
            [[max(float(m[y0:y1, x0:x1].max()) for y0, x0, y1, x1 in g.boxes) for g in groups] for m in maps]
        )

    good_val = region_max(val)[cell["val_labels"] == 0]
    reference = fit_coverage_reference(val[cell["val_labels"] == 0], groups)
    return {
        "max": test.reshape(len(test), -1).max(1),
        "z_coverage": np.array([coverage_z(m, groups, reference) for m in test]),  # edgekit's rule, as trained
        "z_frame": np.array([coverage_z(m, groups) for m in test]),  # its frame-relative term alone
        "z_mad1": _z(test, groups, 1, "mad"),
        "z_mad8": _z(test, groups, 8, "mad"),
        "z_std4": _z(test, groups, 4, "std"),
        "cal": ((region_max(test) - good_val.mean(0)) / (good_val.std(0) + 1e-9)).max(1),
    }


def report(maps_dir: Path, out: Path) -> str:
    from edgekit.evaluation import auroc

    table: dict[tuple[str, str], dict[str, list[float]]] = {}
    for path in sorted(maps_dir.glob("seed*/*/*.npz")):
        category, system = path.parent.name, path.stem
        cell = dict(np.load(path))
        for rule, s in rule_scores(cell).items():
            table.setdefault((category, system), {}).setdefault(rule, []).append(auroc(s, cell["test_labels"]))
    rules = list(next(iter(table.values())))
    out.write_text(json.dumps({f"{c}/{s}": v for (c, s), v in table.items()}, indent=1))
    lines = [
        "image AUROC, mean over seeds (n seeds)\n",
        "| category | system | " + " | ".join(rules) + " |",
        "|---|---|" + "---|" * len(rules),
    ]
    means: dict[tuple[str, str], list[float]] = {}
    for (category, system), by_rule in sorted(table.items()):
        vals = [float(np.mean(by_rule[r])) for r in rules]
        for r, v in zip(rules, vals, strict=True):
            means.setdefault((system, r), []).append(v)
        n = len(by_rule["max"])
        lines.append(f"| {category} | {system} (n={n}) | " + " | ".join(f"{v:.3f}" for v in vals) + " |")
    for system in sorted({s for s, _ in means}):
        lines.append(f"| mean | {system} | " + " | ".join(f"{np.mean(means[(system, r)]):.3f}" for r in rules) + " |")
    for base in ("same rule", "max"):
        lines += [f"\nensemble under each rule minus single@full under {base}, mean over seeds\n"]
        lines += ["| category | " + " | ".join(rules) + " |", "|---|" + "---|" * len(rules)]
        for category in sorted({c for c, _ in table}):
            if (category, "ens") in table and (category, "full") in table:
                e, f = table[(category, "ens")], table[(category, "full")]
                diffs = [float(np.mean(e[r]) - np.mean(f[r if base == "same rule" else "max"])) for r in rules]
                lines.append(f"| {category} | " + " | ".join(f"{d:+.3f}" for d in diffs) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/wide/full"), help="wide set root")
    parser.add_argument("--categories", default=CATEGORIES)
    parser.add_argument("--systems", default="ens,full")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--work", type=Path, default=ROOT / "build/bench/frame_score_runs")
    parser.add_argument("--maps", type=Path, default=ROOT / "build/bench/frame_score_maps", help="saved maps")
    parser.add_argument("--out", type=Path, default=ROOT / "build/bench/frame_score.json")
    parser.add_argument("--extra", default="", help="more edgekit train options, e.g. '--model patchcore'")
    parser.add_argument("--report", action="store_true", help="only score the saved maps")
    parser.add_argument("--keep-runs", action="store_true", help="keep the trained runs (default: delete)")
    args = parser.parse_args()
    if not args.report:
        import shutil

        for seed in (int(s) for s in args.seeds.split(",")):
            for category in args.categories.split(","):
                for system in args.systems.split(","):
                    saved = args.maps / f"seed{seed}" / category / f"{system}.npz"
                    if saved.exists():
                        continue
                    run = run_folder(args.work, seed, category, system, args.data, args.extra.split())
                    cell(run, category, args.data, saved)
                    if not args.keep_runs:
                        shutil.rmtree(run)
                    print(f"seed {seed} {category} {system} done", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    print(report(args.maps, args.out))


if __name__ == "__main__":
    main()
