"""The learning-rate range test: its sweep and smoothing against pandas, and on the
digits CNN a suggestion that trains the example to its accuracy."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import deepnet
from deepnet.cli import main
from deepnet.core.errors import DeepnetError
from deepnet.train.lr_find import BETA, RULE
from factory import mlp_spec


def test_the_sweep_is_exponential_smoothed_as_pandas_and_stops_when_the_loss_blows_up():
    spec = mlp_spec(**{"train.optimizer": {"name": "sgd", "lr": 0.1}})
    test = deepnet.lr_find(spec, steps=150, start=1e-5, end=1e3)
    lrs = np.array(test.lrs)
    assert lrs[0] == pytest.approx(1e-5)
    assert np.allclose(lrs[1:] / lrs[:-1], (1e3 / 1e-5) ** (1 / 149))  # one ratio per step
    # the bias-corrected moving average is pandas' adjusted exponential mean
    reference = pd.Series(test.losses).ewm(alpha=1 - BETA, adjust=True).mean()
    assert np.allclose(test.smoothed, reference, rtol=1e-9)
    # plain SGD at lr 1000 diverges: the sweep stops before its end, saying why
    assert len(test.lrs) < 150 and ("blew up" in test.stopped or "not finite" in test.stopped)
    low = int(np.argmin(test.smoothed))
    assert test.minimum == test.lrs[low] and test.suggested == pytest.approx(test.minimum / 10)
    assert test.rule == RULE
    # the same spec and seed: the same sweep
    assert deepnet.lr_find(spec, steps=150, start=1e-5, end=1e3).losses == test.losses


def test_bad_sweeps_are_refused():
    with pytest.raises(DeepnetError, match="at least 20"):
        deepnet.lr_find(mlp_spec(), steps=5)
    with pytest.raises(DeepnetError, match="start < end"):
        deepnet.lr_find(mlp_spec(), start=1.0, end=0.1)


@pytest.mark.slow  # run by .ci/run after the default suite
def test_the_digits_cnns_suggestion_trains_the_example_to_097(tmp_path, capsys):
    plot = tmp_path / "lr.png"
    assert main(["lr-find", "examples/digits.yaml", "--out", str(plot), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lr = found["suggested"]
    print(f"lr-find on the digits CNN: suggested {lr:.3g}, minimum {found['minimum']:.3g}")
    spec = deepnet.Spec.from_yaml("examples/digits.yaml", [f"train.optimizer.lr={lr}"])
    run = deepnet.train(spec, out=tmp_path / "run", quiet=True, report=False)
    print(f"trained at it: test accuracy {run.results.test['accuracy']:.4f}")
    assert run.results.test["accuracy"] >= 0.97


def test_auto_takes_the_range_tests_rate_only_when_it_moves_the_remedys_way():
    from deepnet.app.auto import with_range_test
    from deepnet.diagnose.findings import Finding, Remedy

    spec = deepnet.Spec.from_dict(mlp_spec(**{"train.optimizer": {"name": "sgd", "lr": 5.0}}))
    said = []
    lower = Finding("unstable_training", "warning", {}, "", Remedy({"train.optimizer.lr": 0.5}, "Lower."))
    taken = with_range_test(lower, spec, said.append)
    suggested = deepnet.lr_find(spec).suggested
    assert suggested < 5.0  # a rate of 5 is past the range test's minimum
    assert taken.remedy.changes["train.optimizer.lr"] == pytest.approx(suggested, rel=1e-3)
    assert "range test" in taken.remedy.text and "lr-find" in said[-1]
    higher = Finding("underfitting", "warning", {}, "",
                     Remedy({"train.optimizer.lr": 50.0}, "Raise."))
    assert with_range_test(higher, spec, said.append) is higher  # the test disagrees: kept
    assert "kept" in said[-1]
