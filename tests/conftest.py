import copy
import os

import pytest
import torch

# `make test` runs two pytest workers on two cores: one intra-op thread each (and in the
# deepnet processes they start), or the OpenMP threads oversubscribe the cores and spin.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)

DIGITS_MLP = {
    "name": "t",
    "seed": 0,
    "data": {"source": "digits"},
    "model": {"layers": [{"flatten": {}}, {"dense": {"units": 32, "activation": "relu"}},
                         {"dense": {"units": 10}}]},
    "train": {"epochs": 2, "batch_size": 64},
}


@pytest.fixture
def mlp_spec_dict():
    return copy.deepcopy(DIGITS_MLP)
