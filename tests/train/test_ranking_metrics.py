"""ROC-AUC and PR-AUC (average precision) against scikit-learn on the same scores: binary
(one logit or two), multiclass one-vs-rest, tied scores, and a class absent."""

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from deepnet.train.metrics import METRICS, probabilities


def _out(rng, n, k, ties=False):
    out = rng.standard_normal((n, k)).astype(np.float32)
    if ties:
        out = np.round(out, 1)  # many equal scores
    return torch.as_tensor(out)


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("k", [1, 2, 5])
def test_against_scikit_learn(k, ties):
    rng = np.random.default_rng(k + 10 * ties)
    out = _out(rng, 400, k, ties)
    classes = max(k, 2)
    y = rng.integers(0, classes, 400)
    p = probabilities(out).numpy().astype(np.float64)
    if classes == 2:
        want_auc = roc_auc_score(y, p[:, 1])
        want_ap = average_precision_score(y, p[:, 1])
    else:
        want_auc = roc_auc_score(y, p, multi_class="ovr", average="macro")
        want_ap = average_precision_score(np.eye(classes)[y], p, average="macro")
    yt = torch.as_tensor(y)
    assert METRICS["roc_auc"].compute(out, yt) == pytest.approx(want_auc, abs=1e-9)
    assert METRICS["pr_auc"].compute(out, yt) == pytest.approx(want_ap, abs=1e-9)
    assert METRICS["roc_auc"].higher_is_better and METRICS["pr_auc"].task == "classification"


def test_a_perfect_ranking_and_a_missing_class():
    out = torch.tensor([[0.1], [0.4], [0.35], [0.8]])
    y = torch.tensor([0, 1, 0, 1])
    assert METRICS["roc_auc"].compute(out, y) == 1.0
    assert METRICS["pr_auc"].compute(out, y) == 1.0
    assert math.isnan(METRICS["roc_auc"].compute(out, torch.tensor([1, 1, 1, 1])))
    three = torch.randn(6, 3, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 0, 1, 0, 1])  # class 2 absent: averaged over 0 and 1
    p = probabilities(three).numpy()
    want = np.mean([roc_auc_score(y.numpy() == c, p[:, c]) for c in (0, 1)])
    assert METRICS["roc_auc"].compute(three, y) == pytest.approx(want)
