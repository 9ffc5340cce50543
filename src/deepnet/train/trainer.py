"""The training loop: `Trainer` (the state callbacks share), `fit`, `evaluate`, and the
checkpoint state of a Trainer. Trainers are built by deepnet.train.setup.make_trainer."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from deepnet.data.batches import InMemory
from deepnet.train import checkpoint
from deepnet.train.callbacks import Callback
from deepnet.train.metrics import compute


@dataclass
class Trainer:
    """The state of one training run, shared with the callbacks."""

    model: torch.nn.Module
    net: torch.nn.Module  # what runs forward: the model, or torch.compile(model)
    optimizer: torch.optim.Optimizer
    scheduler: object | None
    schedule_when: str  # batch | epoch | val
    loss_fn: object
    train_data: InMemory
    val_data: InMemory
    metrics: list[str]
    epochs: int
    l1: float = 0.0
    clip_grad_norm: float | None = None
    autocast: object = contextlib.nullcontext
    scaler: torch.amp.GradScaler | None = None
    batches: torch.Generator = field(default_factory=torch.Generator)
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None
    augment_rng: torch.Generator = field(default_factory=torch.Generator)  # on the device
    # fn(trainer, xb, yb) -> (xb, yb) on each training batch after augment (adversarial
    # training, distillation targets): it may use the model and the labels
    batch_transform: Callable[..., tuple[torch.Tensor, torch.Tensor]] | None = None
    dist: object | None = None  # a distributed.Dist under torchrun, else None
    epoch: int = 0  # epochs completed
    step: int = 0  # optimizer steps taken
    history: list[dict] = field(default_factory=list)
    stop_training: bool = False
    stop_reason: str = "completed"
    stop_message: str = ""
    best_epoch: int = 0
    resumed: bool = False

    def stop(self, message: str, reason: str) -> None:
        self.stop_training, self.stop_message, self.stop_reason = True, message, reason

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]


def _call(callbacks: list[Callback], hook: str, *args) -> None:
    for cb in callbacks:
        getattr(cb, hook)(*args)


def fit(t: Trainer, callbacks: list[Callback]) -> None:
    """Train until the epochs run out or a callback stops it."""
    _call(callbacks, "on_train_begin", t)
    try:
        while t.epoch < t.epochs and not t.stop_training:
            _call(callbacks, "on_epoch_begin", t)
            started = time.perf_counter()
            logs = train_epoch(t, callbacks)
            if t.stop_training:  # diverged inside the epoch: nothing of it is kept
                break
            if t.val_data.n:  # none with data.split.val: 0
                logs |= {f"val_{k}": v for k, v in evaluate(t.net, t.val_data, t.loss_fn,
                                                            t.metrics, t.autocast).items()}
            lr = t.lr
            if t.schedule_when == "epoch" and t.scheduler is not None:
                t.scheduler.step()
            elif t.schedule_when == "val":
                t.scheduler.step(logs["val_loss"])
            t.epoch += 1
            logs = {"epoch": t.epoch, **logs, "lr": lr, "seconds": time.perf_counter() - started}
            t.history.append(logs)
            _call(callbacks, "on_epoch_end", t, logs)
    except BaseException:  # an interrupt or a failure: let callbacks let go
        _call(callbacks, "on_train_abort", t)
        raise
    _call(callbacks, "on_train_end", t)


def train_epoch(t: Trainer, callbacks: list[Callback]) -> dict:
    """One pass over the training batches; the epoch's logs so far."""
    t.net.train()
    params = [p for p in t.model.parameters() if p.requires_grad]
    grad_sums = torch.zeros(len(params), device=t.train_data.device)
    loss_sum, n_seen, outputs, targets = 0.0, 0, [], []
    steps = 0
    for xb, yb in t.train_data.batches(t.batches):
        n_global = len(yb)
        if t.dist is not None:  # this rank's share of the global batch
            xb, yb = t.dist.shard(xb), t.dist.shard(yb)
        if t.augment is not None:
            xb = t.augment(xb, t.augment_rng)
        if t.batch_transform is not None:
            xb, yb = t.batch_transform(t, xb, yb)
        out, loss = _step(t, xb, yb, params, grad_sums, len(yb) / n_global)
        t.step += 1
        steps += 1
        value = (loss if t.dist is None else t.dist.sum(loss)).item()
        _call(callbacks, "on_batch_end", t, value)
        if t.stop_training:
            return {}
        loss_sum += value * n_global
        n_seen += n_global
        outputs.append(out.detach())
        targets.append(yb)
    out, y = torch.cat(outputs), torch.cat(targets)
    if t.dist is not None:
        out, y = t.dist.gather(out), t.dist.gather(y)
    names = [n for n, p in t.model.named_parameters() if p.requires_grad]
    norms = (grad_sums / max(steps, 1)).tolist()
    return {"train_loss": loss_sum / max(n_seen, 1),
            **{f"train_{k}": v for k, v in compute(t.metrics, out.float(), y).items()},
            "grad_norms": dict(zip(names, norms, strict=True))}


def _step(t: Trainer, xb, yb, params, grad_sums, share: float):
    """Forward, backward and one optimizer step; returns (outputs, batch loss).

    `share` is this process's part of the global batch: under data parallelism the loss
    is weighted by it (times the world size, which the gradient averaging divides out),
    so the gradient equals that of the whole global batch in one process.
    """
    with t.autocast():
        out = t.net(xb)
        loss = t.loss_fn(out, yb)
    total = loss
    if t.dist is not None:
        loss = loss * share
        total = loss * t.dist.world
    if t.l1:
        total = total + t.l1 * sum(p.abs().sum() for p in params if p.dim() > 1)
    t.optimizer.zero_grad(set_to_none=True)
    if t.scaler is not None:
        t.scaler.scale(total).backward()
        t.scaler.unscale_(t.optimizer)
    else:
        total.backward()
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    norms = torch.stack(torch._foreach_norm(grads))
    grad_sums += norms
    if t.clip_grad_norm is not None:
        torch.nn.utils.clip_grads_with_norm_(params, t.clip_grad_norm, norms.norm())
    if t.scaler is not None:
        t.scaler.step(t.optimizer)
        t.scaler.update()
    else:
        t.optimizer.step()
    if t.schedule_when == "batch":
        t.scheduler.step()
    return out, loss


@torch.no_grad()
def predict_outputs(net: torch.nn.Module, data: InMemory, autocast=contextlib.nullcontext):
    """The network's outputs on every batch of `data`, in order, in eval mode."""
    net.eval()
    outs = []
    for xb, _ in data.batches():
        with autocast():
            outs.append(net(xb).float())
    return torch.cat(outs)


def evaluate(net, data: InMemory, loss_fn, metrics: list[str],
             autocast=contextlib.nullcontext) -> dict[str, float]:
    """Loss and metrics of `net` on `data` (eval mode, fixed order)."""
    return scores(predict_outputs(net, data, autocast), data, loss_fn, metrics)


def scores(out: torch.Tensor, data: InMemory, loss_fn, metrics: list[str]) -> dict[str, float]:
    """Loss and metrics of outputs `out` of the rows of `data`."""
    return {"loss": loss_fn(out, data.y).item(), **compute(metrics, out, data.y, data.groups)}


# ----------------------------------------------------------------------------- checkpoints
def checkpoint_state(t: Trainer, callbacks: list[Callback]) -> tuple[memoryview, dict]:
    """(tensors file bytes, JSON meta): a snapshot of everything needed to resume exactly."""
    opt_tensors, opt_meta = checkpoint.optimizer_state(t.optimizer)
    tensors = {f"model.{k}": v for k, v in t.model.state_dict().items()}
    tensors |= opt_tensors
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["rng.batches"] = t.batches.get_state()
    tensors["rng.augment"] = t.augment_rng.get_state()
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    np_state = np.random.get_state()
    tensors["rng.numpy"] = torch.from_numpy(np_state[1].astype(np.int64))
    py_version, py_state, py_gauss = random.getstate()
    tensors["rng.python"] = torch.tensor(py_state, dtype=torch.int64)
    for i, cb in enumerate(callbacks):
        tensors |= {f"cb{i}.{k}": v for k, v in cb.tensors().items()}
    meta = {
        "epoch": t.epoch, "step": t.step, "history": t.history,
        "stop": [t.stop_training, t.stop_reason, t.stop_message],
        "optimizer": opt_meta,
        "scheduler": t.scheduler.state_dict() if t.scheduler is not None else None,
        "scaler": t.scaler.state_dict() if t.scaler is not None else None,
        "rng": {"python": [py_version, py_gauss], "numpy": [np_state[0], *np_state[2:]]},
        "callbacks": [cb.state_dict() for cb in callbacks],
    }
    return checkpoint.serialize(tensors), meta


def load_checkpoint(t: Trainer, folder, callbacks: list[Callback]) -> None:
    tensors, meta = checkpoint.load(folder)
    t.model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    checkpoint.load_optimizer_state(t.optimizer, tensors, meta["optimizer"])
    if t.scheduler is not None and meta["scheduler"] is not None:
        t.scheduler.load_state_dict(meta["scheduler"])
    if t.scaler is not None and meta["scaler"] is not None:
        t.scaler.load_state_dict(meta["scaler"])
    torch.set_rng_state(tensors["rng.torch"])
    t.batches.set_state(tensors["rng.batches"])
    t.augment_rng.set_state(tensors["rng.augment"])
    cuda = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    py_version, py_gauss = meta["rng"]["python"]
    random.setstate((py_version, tuple(tensors["rng.python"].tolist()), py_gauss))
    name, *rest = meta["rng"]["numpy"]
    np.random.set_state((name, tensors["rng.numpy"].numpy().astype(np.uint32), *rest))
    for i, (cb, state) in enumerate(zip(callbacks, meta["callbacks"], strict=True)):
        prefix = f"cb{i}."
        cb.load_state(state, {k[len(prefix):]: v for k, v in tensors.items()
                              if k.startswith(prefix)})
    t.epoch, t.step, t.history = meta["epoch"], meta["step"], meta["history"]
    t.stop_training, t.stop_reason, t.stop_message = meta["stop"]
    t.resumed = True

