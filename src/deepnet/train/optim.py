"""Optimizers and learning-rate schedules by name."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.optim import lr_scheduler


def _sgd(params, o, **kw):
    return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, nesterov=o.nesterov,
                           weight_decay=o.weight_decay, **kw)


OPTIMIZERS: dict[str, Callable] = {  # name -> builder(params, spec section, **kw)
    "sgd": _sgd,
    "adam": lambda params, o, **kw: torch.optim.Adam(
        params, lr=o.lr, weight_decay=o.weight_decay, **kw),
    "adamw": lambda params, o, **kw: torch.optim.AdamW(
        params, lr=o.lr, weight_decay=o.weight_decay, **kw),
    "rmsprop": lambda params, o, **kw: torch.optim.RMSprop(
        params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay, **kw),
}
FUSED = {"sgd", "adam", "adamw"}  # those PyTorch has a fused kernel for


def make_optimizer(params, o) -> torch.optim.Optimizer:
    """The spec's optimizer. Where PyTorch has a fused kernel (one kernel updates every
    parameter) it is used, on the CPU too, where PyTorch's default is a loop over the
    parameters: the digits MLP's step is a quarter faster (bench/overhead.py)."""
    params = list(params)
    build = OPTIMIZERS[o.name]
    fused = o.name in FUSED and all(p.is_floating_point() and p.device.type in ("cpu", "cuda")
                            for p in params)
    return build(params, o, fused=True) if fused else build(params, o)


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
