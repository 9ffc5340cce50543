"""A run killed (SIGKILL) at any moment of its life is never a dead end: it is resumed
(`train --resume DIR`) or, when it died before writing its spec, trained again into the
same `--out`, and it ends bit-identical to a run that was never interrupted.

Kills land at every file write of the run (fault injection, DEEPNET_KILL_AT: halfway
through the write) and at random moments (a seeded timer), from the process start to
its last write."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import deepnet
from factory import mlp_spec, write_spec

SPEC = mlp_spec(epochs=5, hidden=32, name="faults", **{
    "train.early_stopping": {"patience": 100}, "train.schedule": "onecycle"})

# halfway through each write of a run's life: spec.yaml, the first (epoch 0) checkpoint,
# the metrics log, a later checkpoint, and the final model, results and report
WRITES = ["spec.yaml:1", "checkpoint:1", "metrics.jsonl:1", "checkpoint:4",
          "model.safetensors:1", "results.json:1", "report.html:1"]


def _cmd(spec_path, out):
    return [sys.executable, "-m", "deepnet", "train", str(spec_path), "--out", str(out),
            "--quiet"]


def _recover(spec_path, out: Path) -> str:
    """Resume the killed run, or train it again into the same folder when it died before
    its spec.yaml was written; returns which."""
    how = "resume" if (out / "spec.yaml").is_file() else "rerun"
    args = ["--resume", str(out)] if how == "resume" else [str(spec_path), "--out", str(out)]
    r = subprocess.run([sys.executable, "-m", "deepnet", "train", *args, "--quiet"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"{how} of {out.name} failed:\n{r.stderr}"
    return how


def _same_run(reference: Path, out: Path) -> None:
    a, b = load_file(str(reference / "model.safetensors")), load_file(
        str(out / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), out.name
    ra, rb = (json.loads((p / "results.json").read_text()) for p in (reference, out))
    assert ra["test"] == rb["test"] and ra["epochs"] == rb["epochs"], out.name
    ha, hb = (deepnet.load(p).history for p in (reference, out))
    assert [h["val_loss"] for h in ha] == [h["val_loss"] for h in hb], out.name
    assert (out / "report.html").is_file()
    assert not list(out.rglob("*.tmp")), out.name


@pytest.mark.slow  # about 14 killed and recovered runs: run by .ci/run after the default suite
def test_sigkill_at_any_moment_then_recovery_is_bit_identical(tmp_path):
    spec_path = write_spec(tmp_path / "s.yaml", SPEC)
    reference = tmp_path / "reference"
    started = time.monotonic()
    r = subprocess.run(_cmd(spec_path, reference), capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    lifetime = time.monotonic() - started

    killed = []
    for label in WRITES:  # halfway through each write
        out = tmp_path / label.replace(":", "-")
        r = subprocess.run(_cmd(spec_path, out), capture_output=True, text=True, timeout=300,
                           env={**os.environ, "DEEPNET_KILL_AT": label})
        assert r.returncode == -signal.SIGKILL, f"{label}: not killed\n{r.stderr}"
        killed.append(out)

    seed = random.randrange(10**6)
    rng = random.Random(seed)
    for i in range(6):  # at random moments from the start to the end of its life
        out = tmp_path / f"random-{i}"
        proc = subprocess.Popen(_cmd(spec_path, out), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0, lifetime))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed.append(out)

    recovered = {}
    for out in killed:
        if not out.exists():  # killed before the folder was made: nothing to recover
            continue
        recovered[out.name] = _recover(spec_path, out)
        _same_run(reference, out)
    assert {"resume", "rerun"} <= set(recovered.values()), (seed, recovered)
    assert recovered["spec.yaml-1"] == "rerun" and recovered["checkpoint-1"] == "resume"
