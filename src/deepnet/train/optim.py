"""Optimizers and learning-rate schedules by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.optim import lr_scheduler

from deepnet.core.registry import Registry


@dataclass(frozen=True)
class OptimizerType:
    build: Callable[..., torch.optim.Optimizer]  # (params, spec section, **kw)
    fused: bool  # PyTorch has a fused kernel for it (one kernel updates every parameter)
    state: int  # optimizer state per parameter, in parameter-sized tensors
    momentum_state: int = 0  # the tensors momentum > 0 adds

    def state_factor(self, momentum: float = 0.0) -> int:
        """Parameter-sized state tensors per parameter at this momentum."""
        return self.state + (self.momentum_state if momentum else 0)


def _sgd(params, o, **kw):
    return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, nesterov=o.nesterov,
                           weight_decay=o.weight_decay, **kw)


OPTIMIZERS: Registry[OptimizerType] = Registry("optimizer", {
    "sgd": OptimizerType(_sgd, fused=True, state=0, momentum_state=1),
    "adam": OptimizerType(lambda params, o, **kw: torch.optim.Adam(
        params, lr=o.lr, weight_decay=o.weight_decay, **kw), fused=True, state=2),
    "adamw": OptimizerType(lambda params, o, **kw: torch.optim.AdamW(
        params, lr=o.lr, weight_decay=o.weight_decay, **kw), fused=True, state=2),
    "rmsprop": OptimizerType(lambda params, o, **kw: torch.optim.RMSprop(
        params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay, **kw),
        fused=False, state=1, momentum_state=1),
})


def make_optimizer(params, o) -> torch.optim.Optimizer:
    """The spec's optimizer. Where PyTorch has a fused kernel (one kernel updates every
    parameter) it is used, on the CPU too, where PyTorch's default is a loop over the
    parameters: the digits MLP's step is a quarter faster (bench/overhead.py)."""
    params = list(params)
    kind = OPTIMIZERS.get(o.name)
    fused = kind.fused and all(p.is_floating_point() and p.device.type in ("cpu", "cuda")
                               for p in params)
    return kind.build(params, o, fused=True) if fused else kind.build(params, o)


# A schedule builder returns (scheduler or None, when it steps: "batch" | "epoch" | "val").
SCHEDULES: Registry[Callable] = Registry("schedule", {
    "none": lambda opt, s, lr, epochs, steps: (None, "epoch"),
    "step": lambda opt, s, lr, epochs, steps: (
        lr_scheduler.StepLR(opt, s.step_size, s.gamma), "epoch"),
    "cosine": lambda opt, s, lr, epochs, steps: (
        lr_scheduler.CosineAnnealingLR(opt, epochs), "epoch"),
    # The spec's lr is the peak of the cycle unless max_lr says otherwise.
    "onecycle": lambda opt, s, lr, epochs, steps: (
        lr_scheduler.OneCycleLR(opt, s.max_lr or lr, total_steps=epochs * steps), "batch"),
    # From the spec's lr down to 0 at the last batch, linearly (fastText's, BERT's)
    "linear": lambda opt, s, lr, epochs, steps: (
        lr_scheduler.LinearLR(opt, 1.0, 0.0, total_iters=epochs * steps), "batch"),
    "plateau": lambda opt, s, lr, epochs, steps: (
        lr_scheduler.ReduceLROnPlateau(opt, factor=s.factor, patience=s.patience), "val"),
})


def make_schedule(opt, schedule, lr: float, epochs: int, steps_per_epoch: int):
    return SCHEDULES.get(schedule.name)(opt, schedule, lr, epochs, max(steps_per_epoch, 1))
