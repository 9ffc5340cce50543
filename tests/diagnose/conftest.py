import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Every diagnose test trains tiny networks: one intra-op thread (tests/conftest.py)."""
