"""`--auto`'s step further: when a remedy helped and the new run has nothing left to
repair, the learning rate the remedy changed moves once more by the same factor (at most
tenfold); never after a step that did not help, nor for other changes (widths and epochs
grown tenfold per step would outgrow any budget)."""

import math

import pytest

import deepnet
from deepnet.app.auto import AutoResult, Round, step_further
from deepnet.diagnose import Finding, Remedy
from factory import mlp_layers, spec_dict


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two tiny iris runs: lr 1e-5 (the first round) and 1e-3 (the remedy applied)."""
    root = tmp_path_factory.mktemp("steps")
    out = {}
    for lr in (1e-5, 1e-3):
        spec = spec_dict("iris", mlp_layers(8, 3, flatten=False), epochs=2)
        spec["train"]["optimizer"] = {"name": "adam", "lr": lr}
        out[lr] = deepnet.train(deepnet.Spec.from_dict(spec), out=root / f"lr{lr}",
                                quiet=True, report=False)
    return out


def _finding(changes: dict) -> Finding:
    return Finding("underfitting", "warning", {"epochs": 2}, "It underfits.",
                   Remedy(changes, "Raise the rate."))


def _result(runs, changes, scores=(0.3, 0.8)) -> AutoResult:
    first = Round(1, runs[1e-5], [_finding(changes)], "accuracy", scores[0],
                  applied=_finding(changes))
    second = Round(2, runs[1e-3], [], "accuracy", scores[1])
    return AutoResult([first, second])


def test_a_remedy_that_helped_is_taken_one_step_further(runs):
    step = step_further(_result(runs, {"train.optimizer.lr": 1e-3}))
    # 1e-5 -> 1e-3 is x100; the step is limited to x10
    assert step.remedy.changes == {"train.optimizer.lr": pytest.approx(1e-2)}
    assert step.kind == "underfitting"
    assert step.remedy.text.startswith("One step further") and "Raise the rate." in step.remedy.text
    again = step_further(AutoResult([Round(1, runs[1e-5], [], "accuracy", 0.3, applied=step),
                                     Round(2, runs[1e-3], [], "accuracy", 0.9)]))
    assert again.remedy.text.count("One step further") == 1  # not nested


@pytest.mark.parametrize("scores", [(0.8, 0.3), (0.8, 0.8), (0.3, math.nan)])
def test_no_step_after_a_change_that_did_not_help(runs, scores):
    assert step_further(_result(runs, {"train.optimizer.lr": 1e-3}, scores)) is None


def test_no_step_without_a_rate_to_move(runs):
    # the rate is not among the remedy's changes (the runs differ in it all the same)
    assert step_further(_result(runs, {"train.epochs": 2})) is None
    assert step_further(AutoResult([Round(1, runs[1e-5], [], "accuracy", 0.3)])) is None
    assert step_further(AutoResult([Round(1, runs[1e-5], [], "accuracy", 0.3),
                                    Round(2, runs[1e-3], [], "accuracy", 0.9)])) is None


def test_the_kept_round_has_fewer_warnings_when_accuracies_differ_by_noise(runs):
    """Of rounds within two standard errors of the best validation accuracy (the binomial
    error on the validation rows), the one with fewer warning-level findings is kept."""
    rows = runs[1e-3].results.samples["val"]
    se = math.sqrt(0.95 * 0.05 / rows)
    faulty = Round(1, runs[1e-5], [_finding({})], "accuracy", 0.96)
    within = Round(2, runs[1e-3], [], "accuracy", 0.96 - 1.5 * se)
    beyond = Round(2, runs[1e-3], [], "accuracy", 0.96 - 3 * se)
    assert AutoResult([faulty, within]).best is within
    assert AutoResult([faulty, beyond]).best is faulty
    assert AutoResult([faulty, Round(2, runs[1e-3], [], "loss", 0.959)]).best is faulty
