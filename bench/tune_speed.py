"""Tuning throughput (issue 21): a 20-trial tune of the digits MLP, 10 epochs a trial,
through `deepnet tune` (one process: trials run in it, on data read once), timed
end to end, against the same search written by hand with Optuna and PyTorch
(bench/handwritten_tune.py, which writes nothing), the two alternated in the same run;
prints the wall times, the trials per minute, the trial counts and the best value, then
one JSON line. The same seed gives the same trials: compare two checkouts with
`PYTHONPATH=OTHER/src python bench/tune_speed.py`.

    .venv/bin/python bench/tune_speed.py [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MLP = ("model.layers=[{flatten: {}}, {dense: {units: 256, activation: relu}}, {dropout: 0.2},"
       " {dense: {units: 256, activation: relu}}, {dense: 10}]")
SPACE = {"train.optimizer.lr": {"loguniform": [3.0e-4, 3.0e-2]},
         "model.layers[1].dense.units": {"int": [32, 256], "log": True},
         "model.layers[2].dropout.rate": {"uniform": [0.0, 0.5]},
         "train.optimizer.name": {"choice": ["adam", "adamw", "rmsprop", "sgd"]}}
TRIALS = 20


def tune_once(out: Path) -> dict:
    tune = json.dumps({"trials": TRIALS, "space": SPACE})
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "deepnet", "tune", "examples/digits.yaml", "--set", MLP,
         "--set", "train.epochs=10", "--set", f"tune={tune}", "--out", str(out), "--quiet",
         "--json"],
        cwd=ROOT, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    result = json.loads(done.stdout)
    return {"wall": wall, "trials": result["trials"], "best_value": result["best_value"],
            "best_params": result["best_params"]}


def by_hand() -> dict:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "handwritten_tune.py"),
                           str(TRIALS)], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(done.stdout) | {"wall": time.perf_counter() - started}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3, help="tunes (the median is reported)")
    args = p.parse_args()
    runs, hand = [], []
    with tempfile.TemporaryDirectory() as d:
        for i in range(args.repeat):
            runs.append(tune_once(Path(d) / f"t{i}"))
            hand.append(by_hand())
    wall = statistics.median(r["wall"] for r in runs)
    ref = statistics.median(r["wall"] for r in hand)
    same = all(r["best_params"] == runs[0]["best_params"] for r in runs)
    each, hand_each = (", ".join(f"{r['wall']:.2f}" for r in rs) for rs in (runs, hand))
    print(f"deepnet tune: {TRIALS} trials in {wall:.2f} s (median of {args.repeat}: {each}): "
          f"{TRIALS / wall * 60:.0f} trials per minute; {runs[0]['trials']}, best "
          f"{runs[0]['best_value']:.4f}; the same best trial each time: {same}")
    print(f"by hand (Optuna + PyTorch): {ref:.2f} s "
          f"({hand_each}): {hand[0]['counts']}, "
          f"{hand[0]['epochs']} epochs, best {hand[0]['best_value']:.4f}; "
          f"deepnet / by hand = {wall / ref:.2f}")
    print(json.dumps({"wall": round(wall, 3), "trials_per_minute": round(TRIALS / wall * 60, 1),
                      "trials": runs[0]["trials"], "best_value": runs[0]["best_value"],
                      "best_params": runs[0]["best_params"], "repeatable": same,
                      "by_hand": round(ref, 3), "ratio": round(wall / ref, 3)}))


if __name__ == "__main__":
    main()
