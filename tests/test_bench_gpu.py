"""bench/gpu.py runs on the CPU (on a GPU it prints the README's throughput table): both
sides train the same network, so the ratio compares the training loops alone."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


@pytest.mark.slow  # two networks trained on the CPU twice each: about 12 s
def test_gpu_bench_runs_on_the_cpu_with_the_same_networks_on_both_sides(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "bench/gpu.py"), "--device", "cpu",
                           "--n", "128", "--epochs", "2", "--batch", "64", "--models", "cnn,resnet"],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    table, line = done.stdout.splitlines()[:-1], done.stdout.splitlines()[-1]
    result = json.loads(line)
    assert result["n_train"] == 128 - 2 * round(128 * 0.02)
    assert [(r["model"], r["compile"]) for r in result["rows"]] == [("cnn", False),
                                                                     ("resnet", False)]
    for r in result["rows"]:
        assert r["parameters"]["deepnet"] == r["parameters"]["loop"] > 10_000, r
        assert r["deepnet"] > 0 and r["loop"] > 0
        assert r["ratio"] == pytest.approx(r["deepnet"] / r["loop"])
    assert any(row.startswith("resnet") for row in table)
