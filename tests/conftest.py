import copy

import pytest

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
