"""Fixtures of the bad-input matrix (issue 13): the trained runs that the run-file,
argument, output and API cases damage (one per session, shared by the xdist workers),
fresh copies of them, and a good spec file. The checks are in refusal_checks.py."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock

from factory import mlp_spec, table_spec, write_spec


def _shared_dir(tmp_path_factory) -> Path:
    """A folder that every pytest-xdist worker of this session sees."""
    root = tmp_path_factory.getbasetemp()
    return root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root


def _train_once(tmp_path_factory, name: str, spec: dict) -> Path:
    """One run trained once per test session (the first worker trains, the others wait)."""
    from deepnet.app.train import train
    from deepnet.spec import Spec

    shared = _shared_dir(tmp_path_factory) / "refusal-runs"
    shared.mkdir(exist_ok=True)
    run = shared / name
    done = shared / f"{name}.done"
    with FileLock(str(shared / f"{name}.lock")):
        if not done.exists():
            shutil.rmtree(run, ignore_errors=True)
            train(Spec.from_dict(spec), out=run, quiet=True)
            done.write_text("")
    return run


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory) -> Path:
    """A trained digits MLP (flatten, dense 32 relu, dense 10; one epoch). Read only:
    damage a copy (`run_copy`)."""
    return _train_once(tmp_path_factory, "digits", mlp_spec(epochs=1, name="digits"))


@pytest.fixture(scope="session")
def iris_run(tmp_path_factory) -> Path:
    """A trained iris MLP (dense 8 relu, dense 3; one epoch): raw inputs are the four
    named columns. Read only: damage a copy (`run_copy`)."""
    return _train_once(tmp_path_factory, "iris",
                       table_spec("iris", outputs=3, name="iris", batch_size=32))


@pytest.fixture
def run_copy(tmp_path) -> Callable[[Path], Path]:
    """A fresh copy of a trained run in this test's folder, free to damage."""

    def copy(run: Path, name: str = "run") -> Path:
        dest = tmp_path / name
        shutil.copytree(run, dest)
        return dest

    return copy


@pytest.fixture
def digits_spec_file(tmp_path) -> Path:
    """The digits MLP spec (one epoch) as a YAML file."""
    return write_spec(tmp_path / "spec.yaml", mlp_spec(epochs=1, name="t"))
