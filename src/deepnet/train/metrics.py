"""Metrics by name, computed on a whole split's outputs at once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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
