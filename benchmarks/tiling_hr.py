"""Features against image tiling at 5 MP on several categories (issue 13's quality target).

For every category in ``--categories`` and tiling in ``--tilings``, in a child process each under
``/usr/bin/time -v``:

* ``edgekit train --data ROOT/C/C --image-size 2448x2048 --tiling T`` (thresholds from the held-out
  ``ROOT/C/validation`` folder): wall time, CPU time, peak RSS, run folder size;
* ``edgekit evaluate RUN --data ROOT/C/C --json``: image AUROC / F1, pixel AUROC / AUPRO, wall, peak RSS.

The run folder is deleted after its cell (a 5 MP image-tiling run is about 6 GB); cells land in
``--out`` (JSON) as they finish, and a rerun skips the cells already there with the same settings.
One category and tiling at a time: image tiling peaks near 16 GB at this size.

    for C in cat coins logo tissue; do
        .venv/bin/edgekit demo-data /tmp/hr5/$C --set wide --size 2448 --category $C
    done
    .venv/bin/python benchmarks/tiling_hr.py --root /tmp/hr5 --categories cat,coins,logo,tissue
    .venv/bin/python benchmarks/tiling_hr.py --report        # the table from the JSON only
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from highres import folder_mib, timed  # the sibling benchmark's /usr/bin/time wrapper (run as a script)

ROOT = Path(__file__).resolve().parents[1]
EDGEKIT = str(Path(sys.executable).with_name("edgekit"))


def cell(root: Path, category: str, tiling: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    data = root / category / category
    if not data.is_dir():
        raise SystemExit(
            f"tiling_hr: no category folder {data}; write it with "
            f"`edgekit demo-data {root / category} --set wide --size 2448 --category {category}`"
        )
    run = work / "run"
    shutil.rmtree(run, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    train = [
        EDGEKIT,
        "train",
        "--data",
        str(data),
        "--out",
        str(run),
        "--image-size",
        args.size,
        "--tiling",
        tiling,
        "--no-progress",
        *args.train_args,
    ]
    out: dict[str, Any] = {
        "category": category,
        "tiling": tiling,
        "size": args.size,
        "train_args": args.train_args,
        "train": timed(train, work / "train.log"),
    }
    if out["train"]["rc"] == 0:
        record = json.loads((run / "training.json").read_text())
        out["cov_reg"] = record.get("options", {}).get("cov_reg")
        out["run_mib"] = folder_mib(run)
        evaluate = [
            EDGEKIT,
            "evaluate",
            str(run),
            "--data",
            str(data),
            "--json",
            str(work / "evaluate.json"),
            "--no-progress",
        ]
        out["evaluate"] = timed(evaluate, work / "evaluate.log")
        if out["evaluate"]["rc"] == 0:
            metrics = json.loads((work / "evaluate.json").read_text())
            out["metrics"] = {k: metrics[k] for k in ("image_auroc", "image_f1", "pixel_auroc", "pixel_aupro")}
            out["thresholds_from"] = metrics.get("details", {}).get("ensemble", {}).get("thresholds_from")
    shutil.rmtree(run, ignore_errors=True)
    return out


def report(cells: list[dict[str, Any]]) -> str:
    by = {(c["category"], c["tiling"]): c for c in cells if "metrics" in c}
    categories = sorted({c for c, _ in by})
    lines = [
        "| category | img AUROC features / image | px AUPRO features / image (d) | train wall s features / image |"
        " train peak RSS MiB features / image | evaluate peak RSS MiB features / image |",
        "|---|---|---|---|---|---|",
    ]
    not_lower = 0
    for category in categories:
        f, i = by.get((category, "features")), by.get((category, "image"))
        if not (f and i):
            continue
        fm, im = f["metrics"], i["metrics"]
        d = fm["pixel_aupro"] - im["pixel_aupro"]
        not_lower += d >= 0
        lines.append(
            f"| {category} | {fm['image_auroc']:.3f} / {im['image_auroc']:.3f} | {fm['pixel_aupro']:.3f} / "
            f"{im['pixel_aupro']:.3f} ({d:+.3f}) | {f['train']['wall_s']:.0f} / {i['train']['wall_s']:.0f} | "
            f"{f['train']['peak_rss_mib']:.0f} / {i['train']['peak_rss_mib']:.0f} | "
            f"{f['evaluate']['peak_rss_mib']:.0f} / {i['evaluate']['peak_rss_mib']:.0f} |"
        )
    lines.append("")
    lines.append(f"features' pixel AUPRO not lower than image tiling's on {not_lower} of {len(lines) - 3} categories")
    return "\n".join(lines)


def settings(c: dict[str, Any]) -> tuple[Any, ...]:
    return c["category"], c["tiling"], c["size"], c["train_args"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path("/tmp/hr5"), help="folder of ROOT/C/{C,validation}")
    parser.add_argument("--categories", default="cat,coins,logo,tissue")
    parser.add_argument("--tilings", default="features,image")
    parser.add_argument("--size", default="2448x2048")
    parser.add_argument("--out", type=Path, default=ROOT / "build/bench/tiling_hr.json")
    parser.add_argument("--work", type=Path, default=ROOT / "build/bench/tiling_hr")
    parser.add_argument("--report", action="store_true", help="print the table from --out and stop")
    parser.add_argument("train_args", nargs="*", help="after --: extra `edgekit train` options for every cell")
    args = parser.parse_args(argv)
    cells: list[dict[str, Any]] = json.loads(args.out.read_text()) if args.out.is_file() else []
    if not args.report:
        for category in args.categories.split(","):
            for tiling in args.tilings.split(","):
                key = (category, tiling, args.size, args.train_args)
                if any(settings(c) == key and "metrics" in c for c in cells):
                    continue
                print(f"tiling_hr: {category} / {tiling} ...", flush=True)
                result = cell(args.root, category, tiling, args, args.work / category / tiling)
                cells = [c for c in cells if settings(c) != key]
                cells.append(result)
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps(cells, indent=1))
                print(json.dumps({k: result.get(k) for k in ("category", "tiling", "metrics")}), flush=True)
    print(report(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
