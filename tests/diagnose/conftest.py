import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread per test process: these tests train tiny networks, where a
    second thread only adds overhead (and contention under pytest -n 2)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
