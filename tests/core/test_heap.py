"""The garbage collector in the `deepnet` program's process (deepnet.core.heap): it waits
for a million new objects while the command imports torch (and torch._dynamo, which
optimizers import), freezes what is alive before the training makes anything and is back
at Python's thresholds for the training; nothing of a run is kept past its end; a Python
caller's process is left as it was."""

import gc
import json
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

from deepnet.cli import main

ROOT = Path(__file__).resolve().parents[2]
SPEC = str(ROOT / "examples" / "digits.yaml")
MLP = ("model.layers=[{flatten: {}}, {dense: {units: 32, activation: relu}}, "
       "{dense: 10}]")

PROGRAM = """
import gc, json, sys
from deepnet.core import heap
from deepnet.cli import main

default = gc.get_threshold()
heap.own_process()
waiting = gc.get_threshold()
before = "torch" in sys.modules
code = main(["train", sys.argv[1], "--set", sys.argv[2], "--set", "train.epochs=1",
             "--out", sys.argv[3], "--quiet", "--no-report"])
print(json.dumps({"code": code, "default": default, "waiting": waiting,
                  "after": gc.get_threshold(), "frozen": gc.get_freeze_count(),
                  "torch_before": before, "objects": len(gc.get_objects())}))
"""


def test_the_program_settles_its_heap_when_the_training_starts(tmp_path):
    done = subprocess.run([sys.executable, "-c", PROGRAM, SPEC, MLP, str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=120, check=True)
    got = json.loads(done.stdout.splitlines()[-1])  # after the run's summary
    assert got["code"] == 0 and not got["torch_before"]
    assert got["waiting"] == [1_000_000, *got["default"][1:]]
    assert got["after"] == got["default"]  # the training collects as Python does
    # frozen: torch and torch._dynamo's objects (over 250,000), beyond what is left
    assert got["frozen"] > 250_000 and got["frozen"] > 2 * got["objects"]


TUNE = """
import gc, json, sys, weakref
from deepnet.core import heap
heap.own_process()
import deepnet.app.train as app_train
from deepnet.cli import main

made = []
real = app_train.make_trainer


def spy(model, *args, **kw):  # each trial's network and Trainer, by weak reference
    trainer = real(model, *args, **kw)
    made.extend([weakref.ref(model), weakref.ref(trainer)])
    return trainer


app_train.make_trainer = spy
space = json.dumps({"trials": 2, "space": {"train.optimizer.lr": {"loguniform": [1e-3, 1e-2]}}})
code = main(["tune", sys.argv[1], "--set", sys.argv[2], "--set", "train.epochs=2",
             "--set", "tune=" + space, "--out", sys.argv[3], "--quiet"])
gc.collect()
print(json.dumps({"code": code, "frozen": gc.get_freeze_count(),
                  "alive": [ref() is not None for ref in made]}))
"""


def test_nothing_of_a_trial_outlives_it_in_the_programs_tune(tmp_path):
    """What settle freezes is never collected: it collects first, so every trial's network
    and Trainer, the first one's too, are freed (settle, in the first trial, once froze
    garbage of the imports that reached that trial's frames, and so its network)."""
    done = subprocess.run([sys.executable, "-c", TUNE, SPEC, MLP, str(tmp_path / "tune")],
                          capture_output=True, text=True, timeout=180, check=True)
    got = json.loads(done.stdout.splitlines()[-1])
    assert got["code"] == 0 and got["frozen"] > 250_000
    assert got["alive"] == [False] * 4


def test_a_python_callers_collector_is_left_alone(tmp_path):
    threshold, frozen = gc.get_threshold(), gc.get_freeze_count()
    assert main(["train", SPEC, "--set", MLP, "--set", "train.epochs=1", "--out",
                 str(tmp_path / "run"), "--quiet", "--no-report"]) == 0
    assert (gc.get_threshold(), gc.get_freeze_count()) == (threshold, frozen)


def test_the_console_script_and_python_m_run_the_program():
    assert entry_points(group="console_scripts")["deepnet"].value == "deepnet.cli:program"
    assert "program()" in (ROOT / "src" / "deepnet" / "__main__.py").read_text()
