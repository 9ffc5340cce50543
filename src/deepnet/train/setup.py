"""The one way a Trainer is built: `make_trainer(model, setup, loss_fn)`.

A `Setup` is what every Trainer of a run shares (the spec's `train` section, the batches,
the device, augmentation, data parallelism); the run's model and a distillation teacher
are both built from it, each with its own seeds.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from deepnet.core.errors import DeepnetError, SpecError
from deepnet.train.optim import make_optimizer, make_schedule
from deepnet.train.trainer import Trainer

THREADS_ENV = "DEEPNET_THREADS"
MAX_AUTO_THREADS = 16  # more rarely helps the small models trained on a CPU


def thread_count(setting: int | str) -> int:
    """The intra-op threads of a run for `train.threads`: a number as it is; `auto` is
    $DEEPNET_THREADS, else $OMP_NUM_THREADS, else the CPUs this process may run on (its
    affinity, which taskset and a container's cpuset narrow), at most 16. On a machine
    busy with other work one thread per process is often several times faster."""
    if setting != "auto":
        return int(setting)
    value = os.environ.get(THREADS_ENV, "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise DeepnetError(f"${THREADS_ENV} must be a positive whole number of threads; "
                               f"got {value!r}")
        return int(value)
    omp = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()  # OpenMP's own syntax
    if omp.isdigit() and int(omp) >= 1:
        return int(omp)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        os.cpu_count() or 1
    return min(cpus, MAX_AUTO_THREADS)


def device_for(name: str) -> torch.device:
    """The spec's `train.device`: auto is CUDA when there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SpecError(f"train.device: {name!r} was asked for, but no CUDA device is "
                        "available; use device: auto or cpu", path="train.device")
    return dev


def precision(name: str, device: torch.device):
    """(autocast context factory, grad scaler or None) for a precision on a device.
    `auto` is bf16 on GPUs that have it (else fp16) and fp32 on the CPU; bf16 and fp16
    also run on the CPU when asked for."""
    if name == "auto":
        if device.type != "cuda":
            return contextlib.nullcontext, None
        name = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if name == "fp32":
        return contextlib.nullcontext, None
    dtype = torch.bfloat16 if name == "bf16" else torch.float16
    scaler = torch.amp.GradScaler(device.type) if name == "fp16" else None
    return functools.partial(torch.autocast, device.type, dtype=dtype), scaler


@dataclass(frozen=True)
class Setup:
    """What the Trainers of one run share."""

    train: Any  # the spec's `train` section: optimizer, schedule, epochs, metrics, ...
    train_data: Any  # data.batches.InMemory or Streaming
    val_data: Any
    device: torch.device
    seed: int
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None
    dist: Any = None  # a train.distributed.Dist under torchrun


def make_trainer(model: torch.nn.Module, setup: Setup, loss_fn: Callable, *,
                 net: torch.nn.Module | None = None, batch_transform: Callable | None = None,
                 seed_offset: int = 0) -> Trainer:
    """A Trainer of `model` on the setup's batches: the spec's optimizer, schedule and
    precision; batch order and augmentation drawn from generators seeded with the run's
    seed plus `seed_offset` (so two Trainers of one run never share their draws). `net`
    is what runs forward (the model wrapped for data parallelism or compiled)."""
    tc = setup.train
    optimizer = make_optimizer(model.parameters(), tc.optimizer)
    scheduler, when = make_schedule(optimizer, tc.schedule, tc.optimizer.lr, tc.epochs,
                                    len(setup.train_data))
    autocast, scaler = precision(tc.precision, setup.device)
    seed = setup.seed + seed_offset
    return Trainer(model, net if net is not None else model, optimizer, scheduler, when,
                   loss_fn, setup.train_data, setup.val_data, tc.metrics, tc.epochs, tc.l1,
                   tc.clip_grad_norm, autocast, scaler,
                   batches=torch.Generator().manual_seed(seed), augment=setup.augment,
                   augment_rng=torch.Generator(setup.device).manual_seed(seed + 1),
                   batch_transform=batch_transform, dist=setup.dist)
