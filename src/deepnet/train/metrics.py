"""Metrics by name, computed on a whole split's outputs at once."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from deepnet.core.registry import Registry


def probabilities(out: torch.Tensor) -> torch.Tensor:
    """Class probabilities from logits; one output unit means binary (sigmoid)."""
    out = out.float()
    if out.shape[-1] == 1:
        p = torch.sigmoid(out[:, 0])
        return torch.stack([1 - p, p], dim=1)
    return torch.softmax(out, dim=-1)


def predicted_classes(out: torch.Tensor) -> torch.Tensor:
    if out.shape[-1] == 1:
        return (out[:, 0] > 0).long()
    return out.argmax(dim=-1)


def accuracy(out, y) -> float:
    return (predicted_classes(out) == y).float().mean().item()


def macro_f1(out, y) -> float:
    """F1 averaged over the classes present in the targets or the predictions."""
    pred = predicted_classes(out)
    k = int(max(y.max(), pred.max()).item()) + 1 if len(y) else 1
    counts = torch.bincount(y * k + pred, minlength=k * k).reshape(k, k)  # [true, pred]
    tp = counts.diagonal()
    support = counts.sum(1) + counts.sum(0)  # 2tp + fp + fn
    present = support > 0
    f1 = 2 * tp[present] / support[present]
    return f1.float().mean().item() if present.any() else 0.0


def top_k(k: int) -> Callable:
    def metric(out, y) -> float:
        kk = min(k, out.shape[-1])
        top = out.topk(kk, dim=-1).indices
        return (top == y[:, None]).any(dim=1).float().mean().item()

    return metric


def _flat(out, y):
    return out.reshape(y.shape).float(), y.float()


def mae(out, y) -> float:
    o, t = _flat(out, y)
    return (o - t).abs().mean().item()


def rmse(out, y) -> float:
    o, t = _flat(out, y)
    return (o - t).pow(2).mean().sqrt().item()


def r2(out, y) -> float:
    o, t = _flat(out, y)
    ss_res = (o - t).pow(2).sum()
    ss_tot = (t - t.mean()).pow(2).sum()
    return (1 - ss_res / ss_tot).item() if ss_tot > 0 else 0.0


def _ranks(score: np.ndarray) -> np.ndarray:
    """1-based ranks of `score`, ties given their average rank."""
    order = np.argsort(score, kind="mergesort")
    s = score[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    ends = np.r_[starts[1:], len(s)]
    ranks = np.empty(len(s))
    ranks[order] = np.repeat((starts + ends + 1) / 2, ends - starts)
    return ranks


def _roc_auc(score: np.ndarray, positive: np.ndarray) -> float:
    """The area under the ROC curve (the Mann-Whitney U statistic, ties counted half)."""
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    return float((_ranks(score)[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _average_precision(score: np.ndarray, positive: np.ndarray) -> float:
    """Average precision: the precision at each distinct threshold (from the highest
    score down) weighted by the recall it adds (scikit-learn's definition)."""
    order = np.argsort(-score, kind="mergesort")
    s, hit = score[order], positive[order]
    last = np.r_[s[1:] != s[:-1], True]  # the last row of each group of tied scores
    tp = np.cumsum(hit)[last]
    seen = np.flatnonzero(last) + 1
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * tp / seen))


def _one_vs_rest(fn: Callable[[np.ndarray, np.ndarray], float]) -> Callable:
    """A ranking metric of class probabilities: for two classes, of the second one; for
    more, the macro average over the classes with positives and negatives (one vs rest).
    NaN when no class has both."""

    def metric(out, y) -> float:
        p = probabilities(out).numpy().astype(np.float64)
        y = y.numpy()
        classes = [1] if p.shape[1] == 2 else range(p.shape[1])
        values = [fn(p[:, c], y == c) for c in classes if 0 < (y == c).sum() < len(y)]
        return float(np.mean(values)) if values else math.nan

    return metric


@dataclass(frozen=True)
class Metric:
    task: str  # classification | regression
    compute: Callable[[torch.Tensor, torch.Tensor], float]  # (outputs, targets) -> value
    higher_is_better: bool


METRICS: Registry[Metric] = Registry("metric", {
    "accuracy": Metric("classification", accuracy, True),
    "f1": Metric("classification", macro_f1, True),
    "top3": Metric("classification", top_k(3), True),
    "top5": Metric("classification", top_k(5), True),
    "roc_auc": Metric("classification", _one_vs_rest(_roc_auc), True),
    "pr_auc": Metric("classification", _one_vs_rest(_average_precision), True),
    "mae": Metric("regression", mae, False),
    "rmse": Metric("regression", rmse, False),
    "r2": Metric("regression", r2, True),
})

DEFAULT_METRICS = {"classification": ["accuracy", "f1"], "regression": ["mae", "rmse", "r2"]}
def higher_is_better(name: str) -> bool:
    """Whether a larger value of metric `name` is better (the loss and unknown names: no);
    read from METRICS each time, so a metric registered from Python counts too."""
    return name in METRICS and METRICS[name].higher_is_better


def compute(names: list[str], out: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    return {name: METRICS.get(name).compute(out, y) for name in names}
