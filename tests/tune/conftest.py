import copy

import pytest

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

