"""Turnaround (issue 21): what a small run costs end to end, phase by phase, against a
hand-written PyTorch script doing the same work (bench/handwritten_digits.py), measured in
the same run: the digits MLP and CNN at 1 and 30 epochs, through the CLI (a process each,
wall time) and through `deepnet.train` in this process (after a warm-up call).

    .venv/bin/python bench/turnaround.py [--repeat N]

deepnet's phases come from `train --json` (`timings`: startup, prepare, build, setup,
train, evaluate, write, report) and metrics.jsonl (the first epoch apart from the
steady ones); the script times its own (import, data, build, first and steady epochs,
evaluation, save). Prints a table, then one JSON line with the ratios. Goals (2 cores):
CLI 1 epoch within 1.5x the script, in-process within 1.2x, 30 epochs within 1.05x.
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
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import handwritten_digits as hand  # noqa: E402

MLP = ["model.layers=[{flatten: {}}, {dense: {units: 256, activation: relu}}, "
       "{dense: {units: 256, activation: relu}}, {dense: 10}]",
       "train.optimizer={name: adam, lr: 0.003}"]
CASES = {"mlp": MLP, "cnn": []}
EPOCHS = (1, 30)


def _overrides(kind: str, epochs: int) -> list[str]:
    return [*CASES[kind], f"train.epochs={epochs}", "train.early_stopping=null"]


def _epochs(run_dir: Path) -> tuple[float, float]:
    """(first epoch's seconds, the other epochs' seconds) from metrics.jsonl."""
    seconds = [json.loads(line)["seconds"] for line in (run_dir / "metrics.jsonl").open()]
    return seconds[0], sum(seconds[1:])


def deepnet_cli(kind: str, epochs: int, tmp: Path) -> dict:
    out = tmp / f"cli-{kind}-{epochs}-{time.monotonic_ns()}"
    sets = [a for o in _overrides(kind, epochs) for a in ("--set", o)]
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "deepnet", "train", "examples/digits.yaml",
                           *sets, "--out", str(out), "--quiet", "--json"], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    t = json.loads(done.stdout)["timings"]
    first, steady = _epochs(out)
    # import: all the process's time outside deepnet.train's phases (the interpreter,
    # the imports, torch._dynamo's included, reading the spec, exiting); the script
    # imports torch._dynamo in its build (its first optimizer)
    return {"wall": wall, "import": wall - sum(v for k, v in t.items() if k != "startup"),
            **_phases(t, first, steady)}


def _phases(t: dict, first: float, steady: float) -> dict:
    return {"data": t["prepare"], "build": t["build"] + t["setup"], "first_epoch": first,
            "steady_epochs": steady, "evaluate": t["evaluate"], "write": t["write"],
            "report": t.get("report", 0.0)}


def deepnet_inprocess(kind: str, epochs: int, tmp: Path) -> dict:
    import deepnet

    spec = deepnet.Spec.from_yaml(ROOT / "examples/digits.yaml", _overrides(kind, epochs))
    out = tmp / f"api-{kind}-{epochs}-{time.monotonic_ns()}"
    started = time.perf_counter()
    run = deepnet.train(spec, out=out, quiet=True)
    wall = time.perf_counter() - started
    first, steady = _epochs(out)
    return {"wall": wall, "import": 0.0, **_phases(run.results.timings, first, steady)}


def script_cli(kind: str, epochs: int, tmp: Path) -> dict:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(ROOT / "bench/handwritten_digits.py"), kind,
                           str(epochs), str(tmp / "hand.safetensors")],
                          capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    return {"wall": wall, **_script_phases(json.loads(done.stdout)["timings"])}


def script_inprocess(kind: str, epochs: int, tmp: Path) -> dict:
    started = time.perf_counter()
    result = hand.run(kind, epochs, str(tmp / "hand.safetensors"), started)
    return {"wall": time.perf_counter() - started, **_script_phases(result["timings"]),
            "import": 0.0}


def _script_phases(t: dict) -> dict:
    return {"import": t["import"], "data": t["data"], "build": t["build"],
            "first_epoch": t["first_epoch"], "steady_epochs": t.get("steady_epochs", 0.0),
            "evaluate": t["evaluate"], "write": t["save"], "report": 0.0}


COLUMNS = ("wall", "import", "data", "build", "first_epoch", "steady_epochs", "evaluate",
           "write", "report")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=1, help="runs of each case (medians)")
    args = p.parse_args()
    ratios = {}
    print(f"{'case':22} " + " ".join(f"{c:>13}" for c in COLUMNS))
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        import deepnet  # in-process: imports and the first-call warm-up paid once, apart

        deepnet.train(deepnet.Spec.from_yaml(ROOT / "examples/digits.yaml",
                                             _overrides("mlp", 1)), out=tmp / "warm", quiet=True)
        hand.run("mlp", 1, str(tmp / "warm.safetensors"), time.perf_counter())
        for kind in CASES:
            for epochs in EPOCHS:
                for way, ours, theirs in (("cli", deepnet_cli, script_cli),
                                          ("api", deepnet_inprocess, script_inprocess)):
                    a = [ours(kind, epochs, tmp) for _ in range(args.repeat)]
                    b = [theirs(kind, epochs, tmp) for _ in range(args.repeat)]
                    med = {who: {c: statistics.median(r[c] for r in runs) for c in COLUMNS}
                           for who, runs in (("deepnet", a), ("script", b))}
                    for who, row in med.items():
                        print(f"{f'{kind} {epochs:>2} ep {way} {who}':22} "
                              + " ".join(f"{row[c]:13.3f}" for c in COLUMNS))
                    ratios[f"{kind}_{epochs}_{way}"] = round(
                        med["deepnet"]["wall"] / med["script"]["wall"], 3)
                    sys.stdout.flush()
    goals = {"cli_1": 1.5, "api_1": 1.2, "cli_30": 1.05, "api_30": 1.05}
    met = {k: v <= goals[f"{k.split('_')[2]}_{k.split('_')[1]}"] for k, v in ratios.items()}
    print(json.dumps({"ratios": ratios, "goals": goals, "met": met}))


if __name__ == "__main__":
    main()
