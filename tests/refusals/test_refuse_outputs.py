"""Output paths that cannot be written (issue 13, item 7): the destination is checked
before the work, exit 2 naming it, and nothing is written. `<digits>`, `<spec>`,
`<tune>`, `<inputs>` and `<tmp>` stand for a copy of the trained digits run, a good spec,
a spec with a tune.space, digits inputs and the test's folder; `<tmp>/file` is a file,
`<tmp>/full` a folder that holds a file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from refusal_checks import check_refusal, refused

from factory import mlp_spec, write_spec

TUNE = {"tune": {"trials": 1, "space": {"train.optimizer.lr": {"loguniform": [1e-3, 1e-2]}}}}

CASES = [
    pytest.param(["predict", "<digits>", "<inputs>", "--out", "<tmp>/full"], ["full"],
                 id="item7-predict-out-existing-folder"),
    pytest.param(["predict", "<digits>", "<inputs>", "--out", "<tmp>/file/x.csv"], ["file"],
                 id="item7-predict-out-under-a-file"),
    pytest.param(["train", "<spec>", "--out", "<tmp>/file/run", "--quiet"], ["--out", "file"],
                 id="item7-train-out-under-a-file"),
    pytest.param(["train", "<spec>", "--out", "<tmp>/file", "--quiet"], ["--out", "file"],
                 id="train-out-is-a-file"),
    pytest.param(["train", "<spec>", "--out", "<tmp>/full", "--quiet"], ["--out", "full"],
                 id="train-out-not-empty"),
    pytest.param(["train", "<spec>", "--out", "<digits>", "--quiet"], ["--out", "digits"],
                 id="train-out-is-a-run"),
    pytest.param(["audit", "<spec>", "--fix", "<tmp>/file/x.npz"], ["--fix", "file"],
                 id="item7-audit-fix-under-a-file"),
    pytest.param(["audit", "<spec>", "--fix", "<tmp>/clean.txt"], ["--fix", "clean.txt"],
                 id="audit-fix-bad-extension"),
    pytest.param(["audit", "<spec>", "--fix", "<tmp>/full"], ["--fix", "full"],
                 id="audit-fix-existing-folder"),
    pytest.param(["audit", "<spec>", "--run", "<tmp>/full"], ["full", "spec.yaml"],
                 id="audit-run-not-a-run"),
    pytest.param(["ensemble", "<digits>", "<digits>", "--out", "<tmp>/full"],
                 ["--out", "full"], id="ensemble-out-not-empty"),
    pytest.param(["ensemble", "<digits>", "<digits>", "--out", "<tmp>/file/ens"],
                 ["--out", "file"], id="ensemble-out-under-a-file"),
    pytest.param(["tune", "<tune>", "--out", "<tmp>/file/t", "--quiet"], ["--out", "file"],
                 id="item7-tune-out-under-a-file"),
    pytest.param(["tune", "<tune>", "--out", "<tmp>/file", "--quiet"], ["--out", "file"],
                 id="tune-out-is-a-file"),
    pytest.param(["attack", "<digits>", "--method", "fgsm", "--limit", "8"], ["robustness"],
                 id="item7-attack-robustness-is-a-file"),
    pytest.param(["report", "<digits>"], ["report.html"], id="item7-report-html-is-a-folder"),
]


@pytest.fixture
def resolve(tmp_path, digits_run, run_copy):
    spec = write_spec(tmp_path / "spec.yaml", mlp_spec(epochs=1))
    tune = write_spec(tmp_path / "tune.yaml", mlp_spec(epochs=1, **TUNE))
    inputs = tmp_path / "inputs.npz"
    np.savez(inputs, x=np.zeros((3, 1, 8, 8), np.float32))
    (tmp_path / "file").write_text("a file\n")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("keep\n")
    run = run_copy(digits_run, "digits")
    (run / "robustness").write_text("a file where the robustness folder goes\n")
    (run / "report.html").unlink()
    (run / "report.html").mkdir()
    values = {"<spec>": spec, "<tune>": tune, "<inputs>": inputs, "<digits>": run,
              "<tmp>": tmp_path}

    def fill(arg: str) -> str:
        for key, value in values.items():
            arg = arg.replace(key, str(value))
        return arg

    return lambda argv: [fill(a) for a in argv]


def _files(tmp_path: Path) -> dict[str, bytes]:
    """Every file under tmp_path and its bytes (a run's own .lock, by name only: the
    process that claims the run writes its pid in it)."""
    return {str(p.relative_to(tmp_path)): b"" if p.name == ".lock" else p.read_bytes()
            for p in tmp_path.rglob("*") if p.is_file()}


@pytest.fixture
def no_work(monkeypatch):
    """Gradients are the work of train and attack: one computed before the destination
    is checked fails the case (the work would be lost)."""
    import torch

    def work(*args, **kwargs):
        raise AssertionError("gradients computed: the work began before the destination "
                             "was checked")

    monkeypatch.setattr(torch.autograd, "grad", work)
    monkeypatch.setattr(torch.autograd, "backward", work)


@pytest.mark.parametrize("argv, places", CASES)
def test_unwritable_output(capsys, tmp_path, resolve, no_work, argv, places):
    argv = resolve(argv)
    before = _files(tmp_path)
    refused(capsys, argv, *places)
    assert _files(tmp_path) == before, "a refused command must write nothing"


@pytest.mark.parametrize("command, folder", [
    pytest.param("train", "runs", id="item7-train-default-runs-is-a-file"),
    pytest.param("tune", "tunes", id="item7-tune-default-tunes-is-a-file"),
])
def test_default_output_folder_is_a_file(capsys, tmp_path, monkeypatch, resolve, no_work,
                                         command, folder):
    argv = resolve([command, "<tune>", "--quiet"])
    monkeypatch.chdir(tmp_path)
    (tmp_path / folder).write_text("a file where the folder goes\n")
    before = _files(tmp_path)
    refused(capsys, argv, folder)
    assert _files(tmp_path) == before


# ----------------------------------------------------------------------------- read-only
# Permissions do not stop root: these run the CLI as the user nobody or, where nobody
# cannot run this Python, as root without the capabilities that override permissions.
NOBODY = 65534
SETPRIV = ["setpriv", "--inh-caps=-all",
           "--bounding-set=-dac_override,-dac_read_search,-fowner"]


# Runs each deepnet command line of argv[1] (JSON) in one process, for speed; prints
# [exit code, stdout, stderr] of each.
DRIVER = """
import contextlib, io, json, sys
from deepnet.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as e:
            code = e.code
    results.append([code, out.getvalue(), err.getvalue()])
print(json.dumps(results))
"""


def _as_nobody():
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def _works(prefix: list[str], preexec) -> bool:
    try:
        r = subprocess.run([*prefix, sys.executable, "-c", "import deepnet"],
                           preexec_fn=preexec, capture_output=True, timeout=60)
    except OSError:
        return False
    return r.returncode == 0


def _unprivileged() -> tuple[list[str], object]:
    """(command prefix, preexec_fn) that run a command subject to file permissions."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return [], None  # an ordinary user: permissions apply already
    if _works([], _as_nobody):
        return [], _as_nobody
    if shutil.which("setpriv") and _works(SETPRIV, None):
        return SETPRIV, None
    pytest.skip("as root, needs the user nobody to be able to run this Python (it cannot "
                f"read {sys.executable}) or setpriv to drop CAP_DAC_OVERRIDE")


def test_item7_read_only_folders(tmp_path, digits_run):
    """train --out into a read-only folder, report and attack on a read-only run, predict
    --out into a read-only folder: exit 2 naming the folder, nothing written."""
    prefix, preexec = _unprivileged()
    home = tmp_path / "home"  # world-writable: the working folder
    home.mkdir()
    run = home / "run"
    shutil.copytree(digits_run, run)
    spec = write_spec(home / "spec.yaml", mlp_spec(epochs=1))
    inputs = home / "inputs.npz"
    np.savez(inputs, x=np.zeros((3, 1, 8, 8), np.float32))
    locked = home / "locked"
    locked.mkdir()
    for p in [*run.rglob("*"), spec, inputs]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    for p in (run, locked):
        p.chmod(0o555)
    for p in (tmp_path, home):
        p.chmod(0o777)
    env = {**os.environ, "HOME": str(home), "MPLCONFIGDIR": str(home / ".mpl"),
           "OMP_NUM_THREADS": "1"}
    commands = [["train", spec, "--out", locked / "run", "--quiet"], ["report", run],
                ["attack", run, "--method", "fgsm", "--limit", "8"],
                ["predict", run, inputs, "--out", locked / "p.csv"]]
    r = subprocess.run([*prefix, sys.executable, "-c", DRIVER,
                        json.dumps([[str(a) for a in c] for c in commands])],
                       cwd=home, env=env, capture_output=True, text=True, timeout=300,
                       preexec_fn=preexec)
    assert r.returncode == 0, r.stderr
    (train, report, attack, predict) = json.loads(r.stdout)
    check_refusal(*train, [locked])
    check_refusal(*report, [run])
    check_refusal(*attack, [run])
    check_refusal(*predict, [locked])
    assert list(locked.iterdir()) == []
