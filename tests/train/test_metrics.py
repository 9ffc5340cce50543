"""The metrics against scikit-learn's reference implementations."""

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, r2_score

from deepnet.train.metrics import compute


@pytest.mark.parametrize("n_classes", [1, 3, 10])
def test_classification_metrics_match_sklearn(n_classes):
    g = torch.Generator().manual_seed(n_classes)
    out = torch.randn(200, n_classes, generator=g)
    k = max(n_classes, 2)
    y = torch.randint(0, k, (200,), generator=g)
    y[y == k - 1] = 0  # one class never appears in the targets, only in predictions
    pred = (out[:, 0] > 0).long() if n_classes == 1 else out.argmax(1)
    got = compute(["accuracy", "f1"], out, y)
    assert got["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert got["f1"] == pytest.approx(f1_score(y, pred, average="macro"), abs=1e-6)


def test_f1_perfect_and_missing_classes():
    y = torch.tensor([0, 0, 2, 2])
    out = torch.nn.functional.one_hot(y, 5).float()
    assert compute(["f1"], out, y)["f1"] == 1.0  # classes 1, 3, 4 absent from both: ignored


def test_regression_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    y = rng.normal(size=100).astype(np.float32)
    o = (y + rng.normal(scale=0.3, size=100)).astype(np.float32)
    got = compute(["mae", "rmse", "r2"], torch.from_numpy(o)[:, None], torch.from_numpy(y))
    assert got["mae"] == pytest.approx(mean_absolute_error(y, o), rel=1e-5)
    assert got["rmse"] == pytest.approx(float(np.sqrt(np.mean((y - o) ** 2))), rel=1e-5)
    assert got["r2"] == pytest.approx(r2_score(y, o), rel=1e-5)
