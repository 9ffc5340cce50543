import os
import sys
from pathlib import Path

import pytest
import torch

# The shared spec factory (tests/factory.py) imports as `factory` from every test folder,
# whatever pytest's import mode.
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

# `make test` runs two pytest workers on two cores: one intra-op thread each (and in the
# deepnet processes they start), or the OpenMP threads oversubscribe the cores and spin.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


@pytest.fixture
def mlp_spec_dict():
    """The digits MLP of tests/factory.py (flatten, dense 32 relu, dense 10; 2 epochs)."""
    from factory import mlp_spec  # here, so that collecting the tests needs no deepnet

    return mlp_spec()


@pytest.fixture
def one_thread():
    """One intra-op thread for a test of tiny tensors, where a second thread only adds
    overhead (and contention on a busy machine): `pytest.mark.usefixtures("one_thread")`."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
