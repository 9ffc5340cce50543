"""The digits CNN of examples/digits.yaml, trained once per test session (about 10 s),
and its test split as raw inputs, for every robustness test."""

from pathlib import Path

import pytest

import deepnet
from deepnet.robust import evaluate as robust_eval

EXAMPLE = Path(__file__).parents[2] / "examples" / "digits.yaml"


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory):
    spec = deepnet.Spec.from_yaml(EXAMPLE)
    return deepnet.train(spec, out=tmp_path_factory.mktemp("robust") / "digits", quiet=True)


@pytest.fixture(scope="session")
def digits_examples(digits_run):
    """(raw x, y) of the 269-row test split."""
    return robust_eval.test_examples(digits_run)
