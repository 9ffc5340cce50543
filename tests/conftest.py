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


# The longest tests run first, so that the two workers finish together: xdist's `load`
# scheduling hands tests out round-robin in collection order, and one of these started
# last would leave the other worker idle for minutes. Seconds on 2 cores (2026-11-30).
LONGEST = (
    "test_autoattack_parts_match_torchattacks",  # 121 and 22
    "test_speech_recognises_digits_of_unseen_voices",  # 117
    "test_the_review_s_figure_on_the_archive_s_split[resnet-ArrowHead]",  # 131
    "test_sigkill_at_any_moment_then_recovery_is_bit_identical",  # 69
    "test_full_budget_adaptive_figures_match_an_independent_apgd",  # 43
    "test_the_review_s_figure_on_the_archive_s_split[fcn-GunPoint]",  # 51
    "test_text_topics_reaches_tfidf_logistic_regression",  # 113
    "test_quick_benchmark_prints_the_table_and_every_figure",  # 31
    "test_resume_at_the_same_world_size",  # 21
    "test_digits_20_trials_reach_the_example",  # 21
    "test_sigkill_at_three_points_then_resume_is_bit_identical",  # 19
    "test_gpu_bench_runs_on_the_cpu_with_the_same_networks_on_both_sides",  # 18
    "test_every_long_command_shows_progress_and_keeps_stdout_for_its_json",  # 17
)


def pytest_collection_modifyitems(config, items):
    def rank(item) -> int:
        return next((i for i, name in enumerate(LONGEST) if name in item.nodeid), len(LONGEST))

    items.sort(key=rank)  # stable: the others keep their order


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
