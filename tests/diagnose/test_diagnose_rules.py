"""Each calibrated rule of `deepnet diagnose` on made-up runs (no training): it fires on the
fault it names and not on the healthy look-alike next to it (the near-misses of the
planted-fault benchmark, bench/faults), with its remedy."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
from test_diagnose_explanations import MLP, NOISY, curves, decay, facts, grad_history

import deepnet
from deepnet.app import auto
from deepnet.diagnose import Finding, Remedy, apply_changes, diagnose_facts
from deepnet.diagnose.fit import (
    CUT_SHORT,
    FIRST_EPOCH_FACTOR,
    LONGER,
    MEMORISED_RATIO,
    OVERFIT_GAP,
    is_linear,
)
from deepnet.diagnose.gradients import EXPLODE_RMS, SATURATED_FRACTION, diagnose_gradients
from deepnet.runs.records import Results
from factory import digits_spec

N = 30


def kinds(findings, warnings_only=True):
    return [f.kind for f in findings if not warnings_only or f.severity != "info"]


# ----------------------------------------------------------------------------- overfitting
def plateau(train_end: float, val_acc: float, n: int = N):
    """Train loss falling to `train_end`, val loss flat at 0.2 after epoch 5, train
    accuracy 1.0, val accuracy `val_acc`."""
    return curves(decay(2.0, train_end, n), np.r_[decay(2.0, 0.2, 5), np.full(n - 5, 0.2)],
                  np.r_[np.linspace(0.5, 1.0, 5), np.ones(n - 5)], np.full(n, val_acc))


def test_memorised_is_overfitting_even_when_the_val_loss_only_plateaus():
    (f,) = diagnose_facts(facts(plateau(1e-5, 0.94), val_rows=100))
    assert f.kind == "overfitting" and f.severity == "warning"
    assert f.evidence["val_loss_rise"] == 0  # the classic rule would call it healthy
    assert f.evidence["val_train_loss_ratio"] >= MEMORISED_RATIO
    assert "train.early_stopping" in f.remedy.changes


@pytest.mark.parametrize("train_end, val_acc, why", [
    (1e-5, 0.98, "a gap of 0.02 is below OVERFIT_GAP"),
    (1e-3, 0.94, "val loss 200x the train loss: fitted, not memorised"),
])
def test_not_memorised(train_end, val_acc, why):
    assert kinds(diagnose_facts(facts(plateau(train_end, val_acc), val_rows=100))) == [], why


def test_a_rising_val_loss_on_a_tiny_val_split_is_no_evidence():
    rising = curves(decay(2.0, 0.05, N), np.r_[decay(2.0, 0.2, 10), np.linspace(0.2, 0.3, 20)],
                    np.full(N, 0.99), np.full(N, 0.95))
    found = diagnose_facts(facts(rising, val_rows=300))
    assert kinds(found) == ["overfitting"]
    assert found[0].evidence["gap_standard_errors"] > 2
    (healthy,) = diagnose_facts(facts(rising, val_rows=20))  # 1 row in 20 is 0.05
    assert healthy.kind == "healthy" and "generalisation gap" in healthy.explanation
    assert healthy.evidence["gap"] >= OVERFIT_GAP


# ----------------------------------------------------------------------------- unstable
def smooth(n=N):
    return decay(2.0, 0.1, n)


def test_one_val_uptick_is_noise_two_spikes_are_unstable():
    val = smooth()
    val[15] = val[14] * 1.2  # the benchmark's near-miss: one epoch 20% above the one before
    acc = np.linspace(0.5, 0.97, N)
    assert kinds(diagnose_facts(facts(curves(smooth(), val, acc, acc)))) == []
    val[15] = val[14] + 0.3 * math.log(10)  # a rise of 30% of the starting loss
    val[20] = val[19] + 0.3 * math.log(10)
    found = diagnose_facts(facts(curves(smooth(), val, acc, acc)))
    assert kinds(found) == ["unstable_training"]
    assert found[0].evidence["val_loss_spikes"] == [{"epoch": 16, "rise_share": 0.3},
                                                    {"epoch": 21, "rise_share": 0.3}]


@pytest.mark.parametrize("first, unstable", [(2.6, False), (FIRST_EPOCH_FACTOR + 1, True)])
def test_first_epoch_far_above_chance_is_unstable(first, unstable):
    train = smooth()
    train[0] = first * math.log(10)  # dropout 0.5 starts at 2.6x chance; SGD at 10, 3-36x
    acc = np.linspace(0.5, 0.97, N)
    found = kinds(diagnose_facts(facts(curves(train, smooth(), acc, acc))))
    assert found == (["unstable_training"] if unstable else [])


def test_both_losses_far_above_chance_is_unstable_an_overfitted_val_loss_is_not():
    acc = np.linspace(0.1, 0.2, N)
    high = curves(np.full(N, 5.0), np.full(N, 5.0), acc, acc)
    assert "unstable_training" in kinds(diagnose_facts(facts(high)))
    over = curves(decay(2.0, 1e-4, N), np.r_[decay(2.0, 0.5, 5), np.linspace(0.5, 6.0, N - 5)],
                  np.ones(N), np.full(N, 0.8))
    assert kinds(diagnose_facts(facts(over))) == ["overfitting"]


# ----------------------------------------------------------------------------- underfitting
def test_val_above_train_under_dropout_is_no_underfitting():
    history = curves(decay(2.0, 0.3, N), decay(2.0, 0.09, N), np.linspace(0.5, 0.82, N),
                     np.linspace(0.6, 0.97, N))  # train figures logged with dropout on
    assert kinds(diagnose_facts(facts(history))) == []


def test_cut_short_asks_for_more_epochs_and_a_loss_near_zero_is_not_cut_short():
    short = curves([1.9, 0.8], [1.2, 0.5], [0.6, 0.9], [0.8, 0.92])  # accuracy is fine
    (f,) = diagnose_facts(facts(short, spec=digits_spec(MLP, epochs=2, early_stopping=None)))
    assert f.kind == "underfitting"
    fired = {c["metric"]: c for c in f.evidence["checks"]}
    assert fired["val_loss decrease per epoch at the end / chance_loss"]["value"] >= CUT_SHORT
    assert f.remedy.changes == {"train.epochs": 2 * LONGER,
                                "train.early_stopping": {"monitor": "val_loss", "patience": 5}}
    converged = curves(decay(0.6, 3e-4, 10), decay(0.6, 3e-4, 10), np.ones(10), np.ones(10))
    assert kinds(diagnose_facts(facts(converged))) == []  # 0.0003 -> 0.0002 is no pace


def test_a_linear_network_that_cannot_fit_gets_a_non_linearity():
    linear = digits_spec([{"dense": {"units": 32, "activation": "linear"}},
                          {"dense": {"units": 32}}, {"dense": 10}], early_stopping=None)
    assert is_linear(linear) and not is_linear(digits_spec(MLP))
    history = curves(decay(2.0, 0.35, N), decay(2.0, 0.35, N), np.full(N, 0.88),
                     np.full(N, 0.88))
    (f,) = diagnose_facts(facts(history, spec=linear))
    assert f.kind == "underfitting"
    assert f.remedy.changes == {"model.layers[1].dense.activation": "relu",
                                "model.layers[2].dense.activation": "relu"}
    assert kinds(diagnose_facts(facts(history))) == []  # the same curves with ReLU layers


# ----------------------------------------------------------------------------- inside
def test_gradients_huge_in_absolute_terms_are_exploding():
    history, layers = grad_history(EXPLODE_RMS * 10, EXPLODE_RMS * 5)  # ratios unremarkable
    (f,) = diagnose_gradients(history, layers, digits_spec(MLP))
    assert f.kind == "exploding_gradients"
    assert f.evidence["largest_grad_rms"] == pytest.approx(EXPLODE_RMS * 10)
    # huge from the start: the scale is the network's, so batchnorm rather than a lower rate
    layers = [next(iter(item)) for item in f.remedy.changes["model.layers"]]
    assert layers == ["flatten", "dense", "batchnorm", "dense", "batchnorm", "dense"]
    assert "train.optimizer.lr" not in f.remedy.changes
    assert diagnose_gradients(*grad_history(0.05, 0.02), digits_spec(MLP)) == []


def tanh_net(normalize: str):
    spec = deepnet.Spec.from_dict({"name": "t", "data": {"source": "digits",
                                                         "normalize": normalize},
                                   "model": {"layers": [{"flatten": {}}, {"dense": {
                                       "units": 16, "activation": "tanh"}}, {"dense": 10}]}})
    return spec, deepnet.build(spec, (1, 8, 8))


@pytest.mark.parametrize("scale, saturated", [(1.0, False), (1000.0, True)])
def test_saturated_tanh_units_are_vanishing_gradients(scale, saturated):
    spec, model = tanh_net("none" if saturated else "standard")
    x = (scale * np.random.default_rng(0).standard_normal((64, 1, 8, 8))).astype(np.float32)
    found = diagnose_facts(facts([{"epoch": 1, "train_loss": 1.0, "val_loss": 1.0}], spec,
                                 model=model, val_x=x))
    if not saturated:
        assert kinds(found) == []
        return
    (f,) = found
    assert f.kind == "vanishing_gradients"
    assert f.evidence["layers"][0]["layer"] == "model.layers[1]"
    assert f.evidence["layers"][0]["saturated"] >= SATURATED_FRACTION
    assert f.remedy.changes == {"data.normalize": "standard"}


# ----------------------------------------------------------------------------- --auto
def test_auto_applies_no_remedy_of_an_info_finding(monkeypatch, tmp_path):
    """An info finding (overfitting that early stopping already undid) is a note: the loop
    stops instead of changing a healthy run."""
    note = Finding("overfitting", "info", {"checks": []}, "kept the best epoch",
                   Remedy({"train.optimizer.weight_decay": 0.001}, "regularise"))

    class FakeRun:  # what the loop reads of a run
        path = tmp_path
        spec = digits_spec(MLP, metrics=["accuracy"])
        results = Results(best_epoch=1)
        history = [{"epoch": 1, "val_accuracy": 0.9}]

    trained = []
    monkeypatch.setattr("deepnet.app.train.train", lambda spec, **kw: trained.append(spec)
                        or FakeRun())
    monkeypatch.setattr(importlib.import_module("deepnet.diagnose"), "diagnose",
                        lambda run: [note])
    lines = []
    result = auto.auto_train(digits_spec(MLP), rounds=3, log=lines.append)
    assert len(trained) == 1 and result.rounds[0].applied is None
    assert any("no warning-level finding" in line for line in lines)


def test_dead_units_of_a_zero_initialisation_reset_the_init():
    spec = deepnet.Spec.from_dict({"name": "z", "data": "digits", "model": {"layers": [
        {"flatten": {}}, {"dense": {"units": 16, "activation": "relu", "init": "zeros"}},
        {"dense": 10}]}})
    model = deepnet.build(spec, (1, 8, 8))
    x = np.random.default_rng(0).standard_normal((64, 1, 8, 8)).astype(np.float32)
    (f,) = diagnose_facts(facts([{"epoch": 1, "train_loss": 1.0, "val_loss": 1.0}], spec,
                                model=model, val_x=x))
    assert f.kind == "dead_units" and f.severity == "critical"
    assert f.remedy.changes == {"model.layers[1].dense.init": None}  # leaky_relu cannot help



def test_a_healthy_run_looks_inside_its_network_once():
    """The dead-unit check runs as a detector and again among a healthy run's checks: one
    forward pass over the validation rows serves both."""
    spec = deepnet.Spec.from_dict({"name": "h", "data": "digits", "model": {"layers": [
        {"flatten": {}}, {"dense": {"units": 16, "activation": "relu"}}, {"dense": 10}]}})
    model = deepnet.build(spec, (1, 8, 8))
    forwards = []
    model.register_forward_pre_hook(lambda m, inp: forwards.append(len(inp[0])))
    x = np.random.default_rng(0).standard_normal((64, 1, 8, 8)).astype(np.float32)
    (f,) = diagnose_facts(facts([{"epoch": 1, "train_loss": 1.0, "val_loss": 1.0}], spec,
                                model=model, val_x=x))
    assert f.kind == "healthy" and forwards == [64]
    assert any("ReLU layer's units dead" in c["metric"] for c in f.evidence["checks"])

def test_auto_never_keeps_a_diverged_round_over_one_with_a_score():
    def round_(n, score):
        return auto.Round(n, None, [], "accuracy", score)

    result = auto.AutoResult([round_(1, float("nan")), round_(2, 0.55), round_(3, 0.99)])
    assert result.best.number == 3
    assert auto.AutoResult([round_(1, float("nan"))]).best.number == 1
    loss = auto.AutoResult([auto.Round(1, None, [], "mae", float("nan")),
                            auto.Round(2, None, [], "mae", 3.0)])
    assert loss.best.number == 2


def test_auto_keeps_on_a_tie_the_round_without_a_warning():
    warn = Finding("overfitting", "warning", {}, "", Remedy({}, ""))
    result = auto.AutoResult([auto.Round(1, None, [warn], "accuracy", 0.93),
                              auto.Round(2, None, [], "accuracy", 0.93)])
    assert result.best.number == 2


def test_the_label_noise_remedy_applies_to_a_spec_without_a_loss_section():
    """The run's spec has its default loss filled in; --auto applies the remedy to the
    user's spec, which may have none (the benchmark's label-noise repairs failed on it)."""
    users = digits_spec(MLP, early_stopping=None)
    assert users.train.loss is None
    resolved = apply_changes(users, {"train.loss": {"name": "cross_entropy"}})
    (f, *_) = diagnose_facts(facts(NOISY, spec=resolved))
    assert f.kind == "label_noise"
    new = apply_changes(users, f.remedy.changes)
    assert new.train.loss.name == "cross_entropy" and new.train.loss.label_smoothing == 0.1
