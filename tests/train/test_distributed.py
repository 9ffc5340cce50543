"""torchrun with 2 CPU processes (gloo) against one process: same global batches."""

import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

import deepnet
from factory import cnn_spec, write_spec

SPEC = cnn_spec(epochs=3, batchnorm=True, pool=2, hidden=32, name="ddp", **{
    "train.optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
    "train.early_stopping": None})


def torchrun(*args, env=None):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
           "--standalone", "-m", "deepnet", "train", *args, "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)


def max_relative_difference(a_dir, b_dir) -> float:
    a, b = load_file(f"{a_dir}/model.safetensors"), load_file(f"{b_dir}/model.safetensors")
    assert a.keys() == b.keys()
    return max(((a[k] - b[k]).norm() / a[k].norm().clamp_min(1e-12)).item()
               for k in a if a[k].is_floating_point())


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory):
    return write_spec(tmp_path_factory.mktemp("ddp") / "ddp.yaml", SPEC)


def test_two_processes_equal_one(spec_path, tmp_path):
    single = deepnet.train(deepnet.Spec.from_yaml(spec_path), out=tmp_path / "one", quiet=True)
    r = torchrun(str(spec_path), "--out", str(tmp_path / "two"))
    assert r.returncode == 0, r.stderr[-3000:]
    assert max_relative_difference(single.path, tmp_path / "two") <= 1e-5
    run = deepnet.load(tmp_path / "two")
    assert len(run.history) == 3
    assert run.history[-1]["train_loss"] == pytest.approx(single.history[-1]["train_loss"],
                                                          rel=1e-4)
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(
        p.name for p in single.path.iterdir())


@pytest.mark.slow
def test_resume_at_the_same_world_size(spec_path, tmp_path):
    full = tmp_path / "full"
    assert torchrun(str(spec_path), "--out", str(full)).returncode == 0
    killed = tmp_path / "killed"
    r = torchrun(str(spec_path), "--out", str(killed), env={"DEEPNET_KILL_AT": "checkpoint:3"})
    assert r.returncode != 0 and not (killed / "model.safetensors").exists()
    r = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
         "--standalone", "-m", "deepnet", "train", "--resume", str(killed), "--quiet"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = load_file(f"{full}/model.safetensors"), load_file(f"{killed}/model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
