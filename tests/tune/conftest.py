import copy
import os
import subprocess
import sys

import pytest
import torch

# A small MLP on the bundled digits: a trial takes about a second on one core.
TUNE_MLP = {
    "name": "tune-mlp",
    "seed": 0,
    "data": {"source": "digits"},
    "model": {"layers": [{"flatten": {}}, {"dense": {"units": 32, "activation": "relu"}},
                         {"dropout": 0.2}, {"dense": {"units": 10}}]},
    "train": {"epochs": 3, "batch_size": 64},
    "tune": {
        "trials": 6,
        "pruner": {"name": "median", "startup_trials": 2},
        "space": {
            "train.optimizer.lr": {"loguniform": [1.0e-4, 1.0e-1]},
            "model.layers[1].dense.units": {"int": [8, 128], "log": True},
            "model.layers[2].dropout.rate": {"uniform": [0.0, 0.5]},
            "train.optimizer.name": {"choice": ["adam", "sgd", "rmsprop"]},
        },
    },
}


@pytest.fixture
def tune_spec_dict():
    return copy.deepcopy(TUNE_MLP)


@pytest.fixture
def one_thread():
    """Small networks train far faster on one thread, above all on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def deepnet_cli(*args, timeout=600, **kwargs):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "deepnet", *args], capture_output=True,
                          text=True, timeout=timeout, env=env, **kwargs)


def load_trials(storage: str, study: str):
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    st = optuna.load_study(study_name=study, storage=JournalStorage(JournalFileBackend(storage)))
    return st.get_trials(deepcopy=True)
