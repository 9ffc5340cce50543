"""Two runs started together into one --out (issue 13, item 6): exactly one proceeds and
trains the run; the other exits 2 naming the folder, without a traceback. Two `deepnet
train` processes race three times, each time into a new folder: they import everything
first and then start on one signal, so that they claim the folder at the same moment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from refusal_checks import check_refusal

from factory import mlp_spec, write_spec

EPOCHS = 3
ROUNDS = 3

# For each folder of argv[3:]: says it is ready (file <tag>.ready<i>.<pid>), waits for
# the signal (file <tag>.go<i>), runs `deepnet train <spec> --out <folder> --quiet` and
# leaves [exit code, stdout, stderr] in <tag>.done<i>.<pid>.
DRIVER = """
import contextlib, io, json, os, sys, time
import deepnet.app.train, deepnet.report.html
from deepnet.cli import main
tag, spec, *outs = sys.argv[1:]
for i, out in enumerate(outs):
    open(f"{tag}.ready{i}.{os.getpid()}", "w").close()
    while not os.path.exists(f"{tag}.go{i}"):
        time.sleep(0.0005)
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(["train", spec, "--out", out, "--quiet"])
    with open(f"{tag}.writing{i}.{os.getpid()}", "w") as f:  # not matched by done<i>.*
        json.dump([code, stdout.getvalue(), stderr.getvalue()], f)
    os.rename(f"{tag}.writing{i}.{os.getpid()}", f"{tag}.done{i}.{os.getpid()}")
"""


def _wait(tmp_path: Path, pattern: str, procs) -> list[Path]:
    deadline = time.monotonic() + 180
    while len(found := sorted(tmp_path.glob(pattern))) < len(procs):
        for p in procs:
            assert p.poll() in (None, 0), p.communicate()  # 0: its last round done
        assert time.monotonic() < deadline, f"timed out waiting for {pattern}"
        time.sleep(0.01)
    return found


@pytest.mark.slow  # two processes that import torch, three runs trained: 15-30 s
def test_two_runs_into_one_out_exactly_one_proceeds(tmp_path):
    spec = write_spec(tmp_path / "spec.yaml", mlp_spec(epochs=EPOCHS, **{
        "train.early_stopping": None}))
    tag = tmp_path / "sig"
    outs = [tmp_path / f"run{i}" for i in range(ROUNDS)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLCONFIGDIR": str(tmp_path / "mpl")}
    procs = [subprocess.Popen([sys.executable, "-c", DRIVER, str(tag), str(spec),
                               *map(str, outs)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    try:
        for i, out in enumerate(outs):
            _wait(tmp_path, f"sig.ready{i}.*", procs)
            Path(f"{tag}.go{i}").write_text("")  # both at once
            done = _wait(tmp_path, f"sig.done{i}.*", procs)
            pair = sorted((json.loads(p.read_text()) for p in done), key=lambda r: r[0])
            assert [code for code, _, _ in pair] == [0, 2], pair
            check_refusal(*pair[1], [str(out)])
            assert f"run: {out}" in pair[0][1] and "Traceback" not in pair[0][2], pair[0]
            epochs = [json.loads(line)["epoch"]
                      for line in (out / "metrics.jsonl").read_text().splitlines()]
            assert epochs == list(range(1, EPOCHS + 1)), epochs
            assert json.loads((out / "results.json").read_text())["epochs"] == EPOCHS
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.communicate()
