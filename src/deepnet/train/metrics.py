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


def _confidence_bins(out, y, bins: int):
    """(confidence of the predicted class, whether it is right, each row's bin of
    `bins` equal-width confidence bins), on the outputs' device."""
    conf, pred = probabilities(out).max(dim=1)
    edges = torch.linspace(0, 1, bins + 1, device=conf.device)[1:-1]
    return conf, (pred == y).float(), torch.bucketize(conf, edges, right=True)


def expected_calibration_error(out, y, bins: int = 15) -> float:
    """Expected calibration error: the gap between the confidence of the predicted class
    and the accuracy, averaged over `bins` equal-width confidence bins weighted by their
    rows (Guo et al. 2017)."""
    conf, hit, which = _confidence_bins(out, y, bins)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += inside.float().mean().item() * abs(conf[inside].mean().item()
                                                         - hit[inside].mean().item())
    return total


def reliability(out, y, bins: int = 10) -> list[tuple[float, float, int]]:
    """(mean confidence, accuracy, rows) of each non-empty confidence bin: the points of
    a reliability diagram."""
    conf, hit, which = _confidence_bins(out, y, bins)
    return [(conf[which == b].mean().item(), hit[which == b].mean().item(),
             int((which == b).sum())) for b in range(bins) if (which == b).any()]


def positive_score(out) -> torch.Tensor:
    """The score of the positive class (class 1) of a binary classifier's outputs."""
    return probabilities(out)[:, 1]


def positive_margin(out) -> torch.Tensor:
    """The log-odds of class 1 of a binary classifier's outputs: ordered as its
    probability, without the float32 saturation of a probability near 1."""
    out = out.float()
    return out[:, 0] if out.shape[-1] == 1 else out[:, 1] - out[:, 0]


def _group_ranks(out, y, groups: np.ndarray) -> np.ndarray:
    """The 1-based rank of each group's positive row (target 1) among the group's rows,
    by the log-odds of class 1, ties counted against it (pessimistic)."""
    score = positive_margin(out).numpy().astype(np.float64)
    y = y.numpy()
    order = np.lexsort((-score, groups))
    g, s, hit = groups[order], score[order], y[order] == 1
    ranks = []
    for start, end in zip(*_runs(g), strict=True):
        pos = np.flatnonzero(hit[start:end])
        if len(pos):
            best = s[start:end][pos].max()
            ranks.append(int((s[start:end] >= best).sum()))
    return np.asarray(ranks, dtype=np.float64)


def _runs(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    return starts, np.r_[starts[1:], len(g)]


def hit_rate(k: int) -> Callable:
    """HR@k: the share of queries (users) whose held-out item ranks in the top k."""
    return lambda out, y, groups: float(np.mean(_group_ranks(out, y, groups) <= k))


def ndcg(k: int) -> Callable:
    """NDCG@k with one relevant item per query: 1 / log2(1 + rank) within the top k."""
    def metric(out, y, groups) -> float:
        r = _group_ranks(out, y, groups)
        return float(np.mean(np.where(r <= k, 1 / np.log2(1 + r), 0.0)))
    return metric


def mrr(out, y, groups) -> float:
    """Mean reciprocal rank of each query's held-out item."""
    return float(np.mean(1 / _group_ranks(out, y, groups)))


@dataclass(frozen=True)
class Metric:
    task: str  # classification | regression
    # (outputs, targets) -> value; a ranking metric (`grouped`) also takes each row's
    # query (a user's held-out item and its negatives share one)
    compute: Callable[..., float]
    higher_is_better: bool
    grouped: bool = False  # ranking: only on splits of queries (data.interactions)
    series: bool = False  # of a series' scaled windows only (data.series)


METRICS: Registry[Metric] = Registry("metric", {
    "accuracy": Metric("classification", accuracy, True),
    "f1": Metric("classification", macro_f1, True),
    "top3": Metric("classification", top_k(3), True),
    "top5": Metric("classification", top_k(5), True),
    "roc_auc": Metric("classification", _one_vs_rest(_roc_auc), True),
    "pr_auc": Metric("classification", _one_vs_rest(_average_precision), True),
    "ece": Metric("classification", expected_calibration_error, False),
    **{f"hr@{k}": Metric("classification", hit_rate(k), True, grouped=True) for k in (5, 10, 20)},
    **{f"ndcg@{k}": Metric("classification", ndcg(k), True, grouped=True) for k in (5, 10, 20)},
    "mrr": Metric("classification", mrr, True, grouped=True),
    # a series' targets are scaled by the seasonal naive error (deepnet.data.series), so
    # the mean absolute error of its windows is the mean absolute scaled error
    "mase": Metric("regression", mae, False, series=True),
    "mae": Metric("regression", mae, False),
    "rmse": Metric("regression", rmse, False),
    "r2": Metric("regression", r2, True),
})

DEFAULT_METRICS = {"classification": ["accuracy", "f1"], "regression": ["mae", "rmse", "r2"],
                   "forecast": ["mase"]}


def forecast_scores(forecast: np.ndarray, truth: np.ndarray, scale: float) -> dict[str, float]:
    """MASE, MAE, RMSE and sMAPE (in %, of |F - A| / ((|A| + |F|) / 2)) of forecasts
    and the true values in a series' units; `scale` is MASE's (the seasonal naive error
    of the training period)."""
    error = forecast - truth
    denominator = (np.abs(truth) + np.abs(forecast)) / 2
    ratio = np.where(denominator > 0, np.abs(error) / np.where(denominator > 0, denominator, 1),
                     0.0)
    return {"mase": float(np.abs(error).mean() / scale), "mae": float(np.abs(error).mean()),
            "rmse": float(np.sqrt((error ** 2).mean())), "smape": float(100 * ratio.mean())}
def higher_is_better(name: str) -> bool:
    """Whether a larger value of metric `name` is better (the loss and unknown names: no);
    read from METRICS each time, so a metric registered from Python counts too."""
    return name in METRICS and METRICS[name].higher_is_better


def compute(names: list[str], out: torch.Tensor, y: torch.Tensor,
            groups: np.ndarray | None = None) -> dict[str, float]:
    """The metrics `names` of outputs `out` for targets `y`; the ranking ones only when
    the rows are queries (`groups`: each row's), as validation and test rows of
    interactions are."""
    values = {}
    for name in names:
        m = METRICS.get(name)
        if not m.grouped:
            values[name] = m.compute(out, y)
        elif groups is not None:  # on the CPU: numpy ranks each query
            values[name] = m.compute(out.detach().float().cpu(), y.detach().cpu(), groups)
    return values
