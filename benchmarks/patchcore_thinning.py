"""PatchCore's per-batch thinning (issue 13) against anomalib's whole-bank coreset, same categories.

Below ``edgekit.train.families.patchcore.BANK_BYTES`` nothing is thinned, which is every 512 px grid; so
to see what thinning costs in quality, this trains each category twice at 512 (3x3 tiles of 256),
once as shipped and once with the budget forced so low that every batch keeps only twice the
coreset ratio (the strongest thinning the rule allows), and evaluates both with ``edgekit evaluate``
on the test split (thresholds from the held-out validation folder in both).

    .venv/bin/python benchmarks/patchcore_thinning.py --data /tmp/wide/full --categories coins,tissue,logo
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAIN = (
    "import sys, edgekit.train.families.patchcore as p\n"
    "p.BANK_BYTES = int(sys.argv[1])\n"
    "from edgekit.cli.main import main\n"
    "sys.argv = ['edgekit', 'train', *sys.argv[2:]]\n"
    "main()\n"
)


def train_and_evaluate(data: Path, run: Path, budget: int) -> dict:
    t0 = time.perf_counter()
    if not (run / "training.json").is_file():
        args = ["--data", str(data), "--out", str(run), "--model", "patchcore", "--no-progress"]
        subprocess.run([sys.executable, "-c", TRAIN, str(budget), *args], check=True, capture_output=True)
    train_s = time.perf_counter() - t0
    edgekit = str(Path(sys.executable).with_name("edgekit"))
    metrics_json = run.parent / f"{run.name}_evaluate.json"
    command = [edgekit, "evaluate", str(run), "--data", str(data), "--json", str(metrics_json), "--no-progress"]
    subprocess.run(command, check=True, capture_output=True, text=True)
    metrics = json.loads(metrics_json.read_text())
    return {"train_s": round(train_s, 1), "metrics": metrics}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("/tmp/wide/full"))
    parser.add_argument("--categories", default="coins,tissue,logo")
    parser.add_argument("--work", type=Path, default=ROOT / "build/bench/patchcore_thinning")
    parser.add_argument("--out", type=Path, default=ROOT / "build/bench/patchcore_thinning.json")
    args = parser.parse_args()
    results = {}
    for category in args.categories.split(","):
        for name, budget in (("whole_bank", 2**62), ("thinned", 1)):
            run = args.work / category / name
            results[f"{category}/{name}"] = train_and_evaluate(args.data / category, run, budget)
            print(category, name, json.dumps(results[f"{category}/{name}"])[:400], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"load_at_end": os.getloadavg(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
