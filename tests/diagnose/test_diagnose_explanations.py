"""A finding never contradicts its evidence: for every kind, built from made-up curves
(fast, no training), each number the explanation quotes is a number of the evidence, each
finding carries the checks that made it (metric, value, threshold, epochs), and a healthy
finding states what it checked; with a generalisation gap at or above the threshold it
says so instead of claiming that training and validation agree."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

import deepnet
from deepnet.diagnose import CHECKS, Facts, Finding, diagnose_facts
from deepnet.diagnose import KINDS as ALL_KINDS
from deepnet.diagnose.fit import GAP_Z, MEMORISED_RATIO, OVERFIT_GAP, OVERFIT_RISE
from deepnet.diagnose.gradients import diagnose_gradients
from deepnet.runs.records import Results
from factory import digits_spec

MLP = [{"dense": {"units": 32, "activation": "relu"}}, {"dense": {"units": 32,
                                                                  "activation": "relu"}},
       {"dense": 10}]
NUMBER = re.compile(r"(?<![\w.\[])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?%?")
SPEC_PATH = re.compile(r"model\.[\w.\[\]]+")


def curves(train_loss, val_loss, train_acc, val_acc, **extra) -> list[dict]:
    return [{"epoch": i + 1, "train_loss": float(tl), "val_loss": float(vl),
             "train_accuracy": float(ta), "val_accuracy": float(va), **extra}
            for i, (tl, vl, ta, va) in enumerate(zip(train_loss, val_loss, train_acc, val_acc,
                                                     strict=True))]


def facts(history, spec=None, val_rows=300, stop="completed", best=None, **kw) -> Facts:
    spec = spec or digits_spec(MLP, early_stopping=None)
    results = Results(stop_reason=stop, best_epoch=best or len(history),
                      samples={"train": 1000, "val": val_rows, "test": val_rows})
    return Facts(spec, history, results, "classification", 10, (1, 8, 8), **kw)


def decay(start, end, n):
    return start * (end / start) ** (np.arange(n) / max(n - 1, 1))


N = 30
HEALTHY = curves(decay(2.0, 0.05, N), decay(2.0, 0.09, N), np.linspace(0.5, 0.99, N),
                 np.linspace(0.5, 0.98, N))
RISING = curves(decay(2.0, 0.001, N), np.r_[decay(2.0, 0.2, 10), np.linspace(0.2, 0.5, N - 10)],
                np.r_[np.linspace(0.5, 1.0, 10), np.ones(N - 10)], np.full(N, 0.9))
MEMORISED = curves(decay(2.0, 1e-5, N), np.r_[decay(2.0, 0.2, 5), np.full(N - 5, 0.2)],
                   np.r_[np.linspace(0.5, 1.0, 5), np.ones(N - 5)], np.full(N, 0.93))
POOR = curves(np.linspace(2.3, 1.6, N), np.linspace(2.3, 1.6, N), np.full(N, 0.4),
              np.full(N, 0.4))
SHORT = curves([1.9, 0.8], [1.2, 0.5], [0.6, 0.84], [0.8, 0.87])
SPIKY = curves([2.0, 1.0, 0.6, 1.5, 0.5, 1.4, 0.5, 0.45], [2.0, 1.0, 0.6, 1.5, 0.5, 1.4, 0.5, 0.45],
               np.full(8, 0.85), np.full(8, 0.86))
NOISY = curves([2.3, 1.8, 1.66, 1.59, 1.53, 1.5, 1.47, 1.43, 1.4, 1.38],
               [1.96, 1.87, 1.84, 1.83, 1.836, 1.84, 1.835, 1.837, 1.85, 1.863],
               [0.27, 0.5, 0.54, 0.55, 0.57, 0.57, 0.58, 0.58, 0.58, 0.59], np.full(10, 0.51))
DIVERGED = curves([2.0, float("nan")], [2.0, float("nan")], [0.3, 0.1], [0.3, 0.1])


def grad_history(first: float, last: float, epochs: int = 4) -> tuple[list[dict], list]:
    """Per-layer gradient norms falling geometrically from the first layer to the last."""
    names = [f"{i}.op.weight" for i in range(5)]
    levels = np.geomspace(first, last, len(names))
    history = [{"epoch": e + 1, "train_loss": 1.0, "val_loss": 1.0,
                "grad_norms": dict(zip(names, levels.tolist(), strict=True))}
               for e in range(epochs)]
    layers = [(f"model.layers[{i + 1}]", [(n, 1)]) for i, n in enumerate(names)]
    return history, layers


def dead_model():
    spec = deepnet.Spec.from_dict({"name": "d", "data": "digits", "model": {"layers": [
        {"flatten": {}}, {"dense": {"units": 16, "activation": "relu"}}, {"dense": 10}]}})
    model = deepnet.build(spec, (1, 8, 8))
    with torch.no_grad():
        model.get_parameter("1.op.bias").fill_(-1e3)
    x = np.random.default_rng(0).standard_normal((64, 1, 8, 8)).astype(np.float32)
    return spec, model, x


def all_kinds() -> dict[str, Finding]:
    """One finding of every kind, each from its own made-up run."""
    out: dict[str, Finding] = {}

    def take(findings):
        for f in findings:
            out.setdefault(f.kind, f)

    take(diagnose_facts(facts(HEALTHY)))
    take(diagnose_facts(facts(RISING)))
    take(diagnose_facts(facts(MEMORISED)))
    take(diagnose_facts(facts(POOR)))
    take(diagnose_facts(facts(SPIKY)))
    take(diagnose_facts(facts(NOISY)))
    take(diagnose_facts(facts(DIVERGED, stop="diverged")))
    spec = digits_spec(MLP)
    take(diagnose_gradients(*grad_history(1e-6, 1.0), spec))  # first layer starved
    take(diagnose_gradients(*grad_history(1e3, 1e-3), spec))  # first layer flooded
    spec, model, x = dead_model()
    take(diagnose_facts(facts([{"epoch": 1, "train_loss": 1.0, "val_loss": 1.0}], spec,
                              model=model, val_x=x)))
    return out


KINDS = ("diverged", "exploding_gradients", "vanishing_gradients", "unstable_training",
         "dead_units", "label_noise", "underfitting", "overfitting", "healthy")


def numbers(x) -> list[float]:
    """Every number in an evidence value, nested lists and dicts included."""
    if isinstance(x, bool):
        return [float(x)]
    if isinstance(x, int | float):
        return [float(x)] if math.isfinite(x) else []
    if isinstance(x, dict):
        return [v for item in x.values() for v in numbers(item)]
    if isinstance(x, list | tuple):
        return [v for item in x for v in numbers(item)]
    return []


def quoted(text: str) -> list[tuple[str, float, float]]:
    """(token, value, half a unit of its last printed digit) of each number in `text`
    (spec paths such as model.layers[3] left out)."""
    out = []
    for token in NUMBER.findall(SPEC_PATH.sub(" ", text)):
        body = token.rstrip("%")
        mantissa, _, exp = body.lower().partition("e")
        decimals = len(mantissa.partition(".")[2])
        tol = 0.5 * 10.0 ** (-decimals) * 10.0 ** (int(exp) if exp else 0)
        value = float(body)
        if token.endswith("%"):
            value, tol = value / 100, tol / 100
        out.append((token, value, tol))
    return out


@pytest.fixture(scope="module")
def found() -> dict[str, Finding]:
    return all_kinds()


def test_every_kind_is_made_by_the_made_up_runs(found):
    assert set(found) == set(KINDS) == set(ALL_KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_each_number_the_explanation_quotes_is_in_the_evidence(found, kind):
    f = found[kind]
    evidence = numbers(f.to_dict()["evidence"])
    tokens = quoted(f.explanation)
    assert tokens, f.explanation  # every explanation quotes its numbers
    for token, value, tol in tokens:
        assert any(abs(v - value) <= tol * 1.001 + 1e-12 for v in evidence), (
            f"{kind}: {token!r} of the explanation is no number of the evidence\n"
            f"{f.explanation}\n{f.evidence}")


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "healthy"])
def test_each_finding_carries_the_checks_that_made_it(found, kind):
    checks = found[kind].to_dict()["evidence"]["checks"]
    assert checks
    for c in checks:
        assert set(c) == {"metric", "value", "op", "threshold", "epochs", "fired"}
        assert c["fired"] is True and isinstance(c["threshold"], int | float)
        first, last = c["epochs"]
        assert 1 <= first <= last


def test_healthy_states_every_check_with_its_numbers(found):
    f = found["healthy"]
    checks = f.evidence["checks"]
    metrics = {c["metric"] for c in checks}
    assert {"val_loss rise above its minimum", "val_loss / train_loss",
            "train_accuracy - val_accuracy", "max(train_accuracy, val_accuracy)",
            "train_loss and val_loss spikes", "train_loss decrease since the val_loss minimum"
            } <= metrics
    for c in checks:
        assert c["metric"] in f.explanation
        assert f"{c['value']:g}" in f.explanation and f"{c['threshold']:g}" in f.explanation
    assert "agree" in f.explanation and f.evidence["gap"] < OVERFIT_GAP


def test_a_healthy_run_with_a_gap_says_so_and_never_claims_agreement():
    # gap 0.05 at 1.2 standard errors of 60 val rows: not overfitting, but a gap
    n = 20
    history = curves(decay(2.0, 0.02, n), decay(2.0, 0.1, n), np.linspace(0.5, 1.0, n),
                     np.linspace(0.5, 0.95, n))
    (f,) = diagnose_facts(facts(history, val_rows=60))
    assert f.kind == "healthy"
    assert f.evidence["gap"] == pytest.approx(0.05) and f.evidence["gap"] >= OVERFIT_GAP
    assert "agree" not in f.explanation
    assert "generalisation gap" in f.explanation and "0.05" in f.explanation
    z = next(c for c in f.evidence["checks"] if "standard errors" in c["metric"])
    assert z["value"] < GAP_Z and f"{z['value']:g}" in f.explanation


def test_overfitting_explanations_say_which_rule_and_quote_the_gap(found):
    f = diagnose_facts(facts(MEMORISED))[0]
    assert f.kind == "overfitting" and f.severity == "warning"
    fired = {c["metric"] for c in f.evidence["checks"]}
    assert "val_loss / train_loss" in fired and "val_loss rise above its minimum" not in fired
    assert f.evidence["val_train_loss_ratio"] >= MEMORISED_RATIO
    assert "memorised" in f.explanation and "generalisation gap" in f.explanation
    assert f.evidence["gap"] == pytest.approx(0.07)
    rising = found["overfitting"]
    assert rising.evidence["val_loss_rise"] >= OVERFIT_RISE and "risen" in rising.explanation


def test_checks_registry_reports_what_the_detectors_read():
    f = facts(HEALTHY)
    checks = [c for fn in CHECKS for c in fn(f)]
    assert checks and not any(c.fired for c in checks if c.metric != "train_accuracy - "
                              "val_accuracy")
    assert all(isinstance(c.value, float | int) for c in checks)


def test_healthy_with_val_above_train_says_so_and_not_that_they_agree():
    n = 20
    history = curves(decay(2.0, 0.3, n), decay(2.0, 0.08, n), np.linspace(0.5, 0.88, n),
                     np.linspace(0.6, 0.97, n))  # dropout 0.5: train logged with it active
    (f,) = diagnose_facts(facts(history))
    assert f.kind == "healthy" and f.evidence["gap"] == pytest.approx(-0.09)
    assert "agree" not in f.explanation and "above training" in f.explanation
    assert "no generalisation gap" in f.explanation
