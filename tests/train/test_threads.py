"""train.threads (issue 22): the intra-op threads of a run, `auto` by a documented rule
($DEEPNET_THREADS, else $OMP_NUM_THREADS, else the CPUs the process may use, at most 16),
recorded in results.json and given back to the caller's setting after the run."""

import json
import os

import pytest
import torch

import deepnet
from deepnet.cli import main
from deepnet.core.errors import DeepnetError, SpecError
from deepnet.train.setup import MAX_AUTO_THREADS, thread_count
from factory import mlp_spec


@pytest.fixture
def no_thread_env(monkeypatch):
    monkeypatch.delenv("DEEPNET_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    return monkeypatch


def test_the_auto_rule(no_thread_env):
    env = no_thread_env
    assert thread_count(3) == 3
    env.setattr(os, "sched_getaffinity", lambda pid: set(range(40)))
    assert thread_count("auto") == MAX_AUTO_THREADS == 16
    env.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2})
    assert thread_count("auto") == 3
    env.setenv("OMP_NUM_THREADS", "2,1")  # OpenMP's nested form: the outer level
    assert thread_count("auto") == 2
    env.setenv("OMP_NUM_THREADS", "junk")  # OpenMP's business: not ours to refuse
    assert thread_count("auto") == 3
    env.setenv("DEEPNET_THREADS", "5")  # before OMP_NUM_THREADS
    assert thread_count("auto") == 5
    assert thread_count(2) == 2  # a number in the spec wins
    for bad in ("0", "two", "-1", "1.5"):
        env.setenv("DEEPNET_THREADS", bad)
        with pytest.raises(DeepnetError, match=f"DEEPNET_THREADS.*{bad!r}"):
            thread_count("auto")


def test_a_run_trains_with_its_threads_and_gives_the_setting_back(tmp_path, no_thread_env):
    before = torch.get_num_threads()
    seen = []

    class Spy(deepnet.Callback):
        def on_epoch_end(self, trainer, logs):
            seen.append(torch.get_num_threads())

    try:
        torch.set_num_threads(2)
        spec = mlp_spec(epochs=2)
        spec["train"]["threads"] = 1
        run = deepnet.train(spec, out=tmp_path / "r", quiet=True, report=False,
                            callbacks=[Spy()])
        assert seen == [1, 1]
        assert torch.get_num_threads() == 2
        assert json.loads((run.path / "results.json").read_text())["threads"] == 1
        no_thread_env.setenv("DEEPNET_THREADS", "1")
        run = deepnet.train(mlp_spec(epochs=1), out=tmp_path / "auto", quiet=True,
                            report=False)
        assert run.results.threads == 1 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_bad_thread_settings_are_refused(tmp_path, no_thread_env, capsys):
    for bad in (0, "many", 2.5):
        spec = mlp_spec()
        spec["train"]["threads"] = bad
        with pytest.raises(SpecError, match="train.threads"):
            deepnet.Spec.from_dict(spec)
    no_thread_env.setenv("DEEPNET_THREADS", "lots")
    spec = tmp_path / "s.yaml"
    deepnet.Spec.from_dict(mlp_spec()).to_yaml(spec)
    assert main(["train", str(spec), "--out", str(tmp_path / "r"), "--quiet"]) == 2
    assert "$DEEPNET_THREADS must be a positive whole number" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()  # refused before the run folder is made
