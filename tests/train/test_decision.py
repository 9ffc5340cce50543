"""Decisions of a classifier, each against scikit-learn (or scipy) on the same scores:
per-class precision/recall/F1, the threshold of highest F1 and of highest recall at a
precision, the ROC and precision-recall curves, the expected calibration error and the
temperature of temperature scaling."""

import numpy as np
import pytest
import torch
from scipy.optimize import minimize_scalar
from sklearn.metrics import (
    f1_score,
    precision_recall_curve,
    precision_recall_fscore_support,
    roc_curve,
)

from deepnet.train.decision import (
    at_threshold,
    choose_threshold,
    curves,
    fit_temperature,
    fold_temperature,
    per_class,
)
from deepnet.train.metrics import expected_calibration_error


@pytest.fixture
def scores():
    rng = np.random.default_rng(0)
    positive = rng.random(2000) < 0.05
    score = 1 / (1 + np.exp(-(rng.normal(size=2000) + 2.5 * positive - 2)))
    return score.round(3), positive  # rounded: tied scores too


def test_per_class_equals_scikit_learn():
    rng = np.random.default_rng(1)
    y, pred = rng.integers(0, 4, 500), rng.integers(0, 4, 500)
    pred[pred == 3] = 2  # class 3 never predicted: precision 0, as zero_division=0
    mine = per_class(pred, y, ["a", "b", "c", "d"])
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=[0, 1, 2, 3], zero_division=0)
    for j, name in enumerate("abcd"):
        assert mine[name]["precision"] == pytest.approx(p[j])
        assert mine[name]["recall"] == pytest.approx(r[j])
        assert mine[name]["f1"] == pytest.approx(f[j])
        assert mine[name]["support"] == s[j]


def test_threshold_of_highest_f1_equals_scikit_learns_curve(scores):
    score, positive = scores
    value, how = choose_threshold(score, positive, "max_f1")
    p, r, t = precision_recall_curve(positive, score)
    f1 = np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-12), 0)[:-1]
    assert value == pytest.approx(t[np.argmax(f1)])
    assert f"({f1.max():.4f})" in how
    assert at_threshold(score, positive, value)["f1"] == pytest.approx(
        f1_score(positive, score >= value))


def test_threshold_of_highest_recall_at_a_precision(scores):
    score, positive = scores
    value, how = choose_threshold(score, positive, "recall_at_precision", 0.5)
    p, r, t = precision_recall_curve(positive, score)
    ok = np.flatnonzero(p[:-1] >= 0.5)
    best = ok[np.argmax(r[:-1][ok])]
    assert value == pytest.approx(t[best])
    got = at_threshold(score, positive, value)
    assert got["precision"] >= 0.5 and got["recall"] == pytest.approx(r[best])
    value, how = choose_threshold(score, positive, "recall_at_precision", 1.0)
    assert at_threshold(score, positive, value)["precision"] == pytest.approx(p[:-1].max()) \
        or "no threshold reaches" in how


def test_curves_equal_scikit_learns(scores):
    score, positive = scores
    c = curves(score, positive)
    fpr, tpr, _ = roc_curve(positive, score, drop_intermediate=False)
    assert np.allclose(c["fpr"], fpr) and np.allclose(c["tpr"], tpr)
    p, r, _ = precision_recall_curve(positive, score)
    assert np.allclose(c["precision"][::-1], p[:-1]) and np.allclose(c["recall"][::-1], r[:-1])


def test_expected_calibration_error_against_a_plain_count():
    rng = np.random.default_rng(2)
    logits = torch.as_tensor(rng.normal(size=(3000, 3)) * 2, dtype=torch.float32)
    y = torch.as_tensor(rng.integers(0, 3, 3000))
    p = torch.softmax(logits, 1).numpy()
    conf, pred = p.max(1), p.argmax(1)
    total = 0.0
    for b in range(15):
        lo, hi = b / 15, (b + 1) / 15
        inside = (conf > lo) & (conf <= hi) if b else (conf >= lo) & (conf <= hi)
        if inside.any():
            total += inside.mean() * abs(conf[inside].mean() - (pred == y.numpy())[inside].mean())
    assert expected_calibration_error(logits, y) == pytest.approx(total, abs=1e-6)


def test_temperature_minimises_the_validation_nll_as_scipy_finds_it():
    rng = np.random.default_rng(3)
    truth = torch.as_tensor(rng.integers(0, 4, 1000))
    logits = torch.as_tensor(rng.normal(size=(1000, 4)), dtype=torch.float32) + 3 * \
        torch.nn.functional.one_hot(truth, 4).float()
    flipped = torch.as_tensor(rng.random(1000) < 0.25)
    y = torch.where(flipped, torch.as_tensor(rng.integers(0, 4, 1000)), truth)
    t = fit_temperature(logits, y)  # over-confident: a quarter of the labels are noise

    def nll(log_t):
        return torch.nn.functional.cross_entropy(logits / np.exp(log_t), y).item()

    best = np.exp(minimize_scalar(nll, bounds=(-3, 3), method="bounded").x)
    assert t == pytest.approx(best, rel=1e-3) and t > 1
    net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))
    x = torch.randn(20, 5)
    before = net(x).detach()
    fold_temperature(net, 2.5, x)
    assert torch.allclose(net(x), before / 2.5, atol=1e-6)
    bad = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Softmax(dim=1))
    kept = bad[0].weight.detach().clone()
    with pytest.raises(ValueError, match="not those of its last dense layer"):
        fold_temperature(bad, 2.0, x)
    assert torch.equal(bad[0].weight, kept)  # left as it was
