"""Healthy runs of every example in examples/ raise no warning-level finding: each example
is trained as it stands (its own epochs, early stopping and seed; `make data` writes the
image folder and the text table they read) and diagnosed. What was checked is in the
healthy finding, so a failure prints the numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

import deepnet

# speech trains for two minutes: its test in tests/app/test_uses.py diagnoses it too. The
# UCR examples keep no validation split (as the review they reproduce), so there is no
# diagnosis to make: tests/app/test_ucr.py holds them to the paper's figures; nor does
# MNIST-1D's (all 4,000 signals train, as the paper): tests/app/test_mnist1d.py. The
# real-text example trains for a minute and a half: tests/app/test_text_topics.py
DIAGNOSED_ELSEWHERE = {"speech", "ucr_fcn", "ucr_resnet", "mnist1d_cnn", "text_topics"}
EXAMPLES = sorted(p for p in Path("examples").glob("*.yaml") if p.stem not in DIAGNOSED_ELSEWHERE)


def test_every_example_is_listed():
    assert {p.stem for p in EXAMPLES} >= {"digits", "breast_cancer", "images", "text_sentiment"}


@pytest.mark.slow  # four trainings of 10-40 epochs: about a minute on one core
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_raises_no_warning(path, tmp_path):
    run = deepnet.train(deepnet.Spec.from_yaml(path), out=tmp_path / "run", quiet=True,
                        report=False)
    findings = deepnet.diagnose(run)
    bad = [(f.kind, f.severity, f.evidence) for f in findings if f.severity != "info"]
    assert not bad, f"{path.name}: {bad}\n{findings[0].explanation}"
    assert findings[0].evidence["checks"]  # it says what it checked
