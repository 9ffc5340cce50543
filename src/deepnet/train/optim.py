"""Optimizers and learning-rate schedules by name."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.optim import lr_scheduler


def _sgd(params, o):
    return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, nesterov=o.nesterov,
                           weight_decay=o.weight_decay)


OPTIMIZERS: dict[str, Callable] = {
    "sgd": _sgd,
    "adam": lambda params, o: torch.optim.Adam(params, lr=o.lr, weight_decay=o.weight_decay),
    "adamw": lambda params, o: torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay),
    "rmsprop": lambda params, o: torch.optim.RMSprop(
        params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay),
}


def make_optimizer(params, o) -> torch.optim.Optimizer:
    return OPTIMIZERS[o.name](params, o)


# A schedule builder returns (scheduler or None, when it steps: "batch" | "epoch" | "val").
SCHEDULES: dict[str, Callable] = {
    "none": lambda opt, s, lr, epochs, steps: (None, "epoch"),
    "step": lambda opt, s, lr, epochs, steps: (
        lr_scheduler.StepLR(opt, s.step_size, s.gamma), "epoch"),
    "cosine": lambda opt, s, lr, epochs, steps: (
        lr_scheduler.CosineAnnealingLR(opt, epochs), "epoch"),
    # The spec's lr is the peak of the cycle unless max_lr says otherwise.
    "onecycle": lambda opt, s, lr, epochs, steps: (
        lr_scheduler.OneCycleLR(opt, s.max_lr or lr, total_steps=epochs * steps), "batch"),
    "plateau": lambda opt, s, lr, epochs, steps: (
        lr_scheduler.ReduceLROnPlateau(opt, factor=s.factor, patience=s.patience), "val"),
}


def make_schedule(opt, schedule, lr: float, epochs: int, steps_per_epoch: int):
    return SCHEDULES[schedule.name](opt, schedule, lr, epochs, max(steps_per_epoch, 1))
