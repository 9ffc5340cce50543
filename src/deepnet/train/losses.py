"""Losses by name. Each builder gets the spec's loss section and the training targets
(for class weights) and returns `loss(outputs, targets) -> scalar`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from deepnet.core.errors import SpecError
from deepnet.core.registry import Registry


def _class_weights(spec, y: np.ndarray, n_classes: int) -> torch.Tensor | None:
    w = spec.class_weights
    if w is None:
        return None
    if w == "balanced":  # n / (k * count): each class weighs the same in total
        counts = np.bincount(y, minlength=n_classes).astype(np.float64)
        return torch.as_tensor(len(y) / (n_classes * np.maximum(counts, 1)), dtype=torch.float32)
    if len(w) != n_classes:
        raise SpecError(f"train.loss.class_weights: {len(w)} weights given for {n_classes} "
                        "classes; give one per class or 'balanced'")
    return torch.as_tensor(w, dtype=torch.float32)


def _cross_entropy(spec, y, n_classes, device):
    w = _class_weights(spec, y, n_classes)
    w = w.to(device) if w is not None else None
    return lambda out, t: F.cross_entropy(out, t, weight=w, label_smoothing=spec.label_smoothing)


def _binary_cross_entropy(spec, y, n_classes, device):
    w = _class_weights(spec, y, 2)
    pos = (w[1] / w[0]).to(device) if w is not None else None
    return lambda out, t: F.binary_cross_entropy_with_logits(
        out.reshape(t.shape), t.to(out.dtype), pos_weight=pos)


def _regression(fn):
    def build(spec, y, n_classes, device):
        return lambda out, t: fn(out.reshape(t.shape), t, spec)

    return build


@dataclass(frozen=True)
class LossType:
    build: Callable  # (spec section, training targets, classes, device) -> loss(out, t)
    task: str  # classification | regression
    one_output: bool = False  # takes one output unit (a logit), not one per class
    softmax: bool = False  # a softmax over one logit per class (distillation softens it)


LOSSES: Registry[LossType] = Registry("loss", {
    "cross_entropy": LossType(_cross_entropy, "classification", softmax=True),
    "binary_cross_entropy": LossType(_binary_cross_entropy, "classification", one_output=True),
    "mse": LossType(_regression(lambda o, t, s: F.mse_loss(o, t)), "regression"),
    "mae": LossType(_regression(lambda o, t, s: F.l1_loss(o, t)), "regression"),
    "huber": LossType(_regression(lambda o, t, s: F.huber_loss(o, t, delta=s.delta)),
                      "regression"),
})


def default_loss(task: str, n_outputs: int | None) -> str:
    """The loss of a task for a network of `n_outputs` output units (None: unknown)."""
    if task == "regression":
        return "mse"
    return "binary_cross_entropy" if n_outputs == 1 else "cross_entropy"


def make_loss(spec, y_train: np.ndarray, n_classes: int, device) -> Callable:
    return LOSSES.get(spec.name).build(spec, y_train, n_classes, device)
