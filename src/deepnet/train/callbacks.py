"""Callbacks: small classes with named no-op hooks, called explicitly by the loop
(as Keras' callbacks are). A callback that keeps state across a resume gives it in
`state_dict()` (JSON) and `tensors()` and takes it back in `load_state()`."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch

from deepnet.core.errors import SpecError
from deepnet.core.io import json_text, write_text_atomic
from deepnet.core.registry import Registry
from deepnet.train.metrics import higher_is_better


class Callback:
    """The base of every callback (`deepnet.Callback`): override the hooks you need.

    The loop calls them in this order, each with the Trainer (`trainer.model`,
    `.optimizer`, `.epoch`, `.history`, `.stop(message, reason)` to end training after
    this epoch):

        on_train_begin(trainer)           once, before the first epoch (also on resume)
        on_epoch_begin(trainer)           before each epoch
        on_batch_end(trainer, loss)       after each optimizer step, with the batch loss
        on_epoch_end(trainer, logs)       after each epoch: logs has epoch, train_loss,
                                          val_loss, train_<metric>, val_<metric>, lr
        on_train_end(trainer)             once, after the last epoch
        on_train_abort(trainer)           instead, when an exception (Ctrl-C) ends it

    A callback that keeps state across a resume returns it from `state_dict()` (JSON
    values) and `tensors()` (name -> tensor) and takes it back in `load_state`; the
    checkpoint keeps both for the callbacks of the spec (`train.callbacks`). Callbacks
    passed to `deepnet.train(callbacks=[...])` are not checkpointed.
    """

    def on_train_begin(self, trainer) -> None: ...
    def on_epoch_begin(self, trainer) -> None: ...
    def on_batch_end(self, trainer, loss: float) -> None: ...
    def on_epoch_end(self, trainer, logs: dict) -> None: ...
    def on_train_end(self, trainer) -> None: ...
    def on_train_abort(self, trainer) -> None: ...  # an exception ends training

    def state_dict(self) -> dict:
        return {}

    def tensors(self) -> dict[str, torch.Tensor]:
        return {}

    def load_state(self, state: dict, tensors: dict[str, torch.Tensor]) -> None: ...


# Callbacks a spec names (train.callbacks), registered from Python
# (deepnet.register_callback): name -> a function of no arguments making a Callback.
CALLBACKS: Registry[Callable[[], Callback]] = Registry("callback")


class BestWeights(Callback):
    """Keeps the weights of the best epoch by `monitor` and restores them at the end, also
    when the epochs run out. With `patience` set it is early stopping."""

    def __init__(self, monitor: str = "val_loss", mode: str = "auto",
                 patience: int | None = None, min_delta: float = 0.0, restore: bool = True):
        if mode == "auto":
            metric = monitor.removeprefix("val_").removeprefix("train_")
            mode = "max" if higher_is_better(metric) else "min"
        self.monitor, self.mode, self.patience, self.min_delta = monitor, mode, patience, min_delta
        self.restore = restore  # False: early stopping alone, the last weights kept
        self.best: float | None = None
        self.best_epoch = 0
        self.wait = 0
        self.weights: dict[str, torch.Tensor] = {}

    def _better(self, value: float) -> bool:
        if self.best is None:
            return math.isfinite(value)
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_train_begin(self, trainer) -> None:
        if self.restore and not self.weights:  # until an epoch improves, the initial ones
            self.weights = _copy(trainer.model)

    def on_epoch_end(self, trainer, logs: dict) -> None:
        value = logs[self.monitor]
        if self._better(value):
            self.best, self.best_epoch, self.wait = value, logs["epoch"], 0
            if self.restore:
                self.weights = _copy(trainer.model)
            return
        self.wait += 1
        if self.patience is not None and self.wait >= self.patience:  # as Keras counts it
            trainer.stop(f"early stopping: {self.monitor} has not improved for {self.wait} "
                         f"epoch{'s' if self.wait > 1 else ''} since epoch {self.best_epoch} "
                         f"(patience {self.patience})", "early_stopping")

    def on_train_end(self, trainer) -> None:
        if self.restore:
            trainer.model.load_state_dict(self.weights)
            trainer.best_epoch = self.best_epoch

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def tensors(self) -> dict[str, torch.Tensor]:
        return {f"best.{k}": v for k, v in self.weights.items()}

    def load_state(self, state: dict, tensors: dict[str, torch.Tensor]) -> None:
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]
        self.weights = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}


def _copy(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class DivergenceGuard(Callback):
    """Stops at the first non-finite batch loss, or at one above `factor` times the first."""

    def __init__(self, factor: float):
        self.factor = factor
        self.reference: float | None = None

    def on_batch_end(self, trainer, loss: float) -> None:
        where = f"epoch {trainer.epoch + 1}, step {trainer.step}"
        if not math.isfinite(loss):
            trainer.stop(f"diverged: the loss became {loss} at {where}", "diverged")
        elif self.reference is None:
            self.reference = max(loss, 1e-8)
        elif loss > self.factor * self.reference:
            trainer.stop(f"diverged: the loss exploded to {loss:.4g} at {where}, over "
                         f"{self.factor:g} x its starting value {self.reference:.4g} "
                         "(train.divergence.factor); lower train.optimizer.lr", "diverged")

    def state_dict(self) -> dict:
        return {"reference": self.reference}

    def load_state(self, state: dict, tensors) -> None:
        self.reference = state["reference"]


def checkpointed(tc) -> list[Callback]:
    """The spec's (`train`) callbacks whose state a checkpoint keeps: the divergence
    guard, early stopping, the best weights (train.keep), and those of `train.callbacks`.
    One BestWeights does both when early stopping's monitor also ranks the kept epoch."""
    out: list[Callback] = [DivergenceGuard(tc.divergence.factor)]
    es, (monitor, mode) = tc.early_stopping, tc.keep_monitor
    same = es is not None and (monitor, mode) == (es.monitor, es.mode)
    if es is not None:
        out.append(BestWeights(es.monitor, es.mode, es.patience, es.min_delta,
                               restore=tc.keeps_best and same))
    if tc.keeps_best and not same:
        out.append(BestWeights(monitor, mode))
    return out + [make_callback(name) for name in tc.callbacks]


def make_callback(name: str) -> Callback:
    """A new callback of the registered `name`; a SpecError when the factory does not
    make a Callback."""
    try:
        made = CALLBACKS.get(name)()
    except Exception as e:  # noqa: BLE001 - a user's factory: any failure is named
        raise SpecError(f"train.callbacks: the factory registered as {name!r} fails: "
                        f"{type(e).__name__}: {e}", path="train.callbacks") from None
    if not isinstance(made, Callback):
        raise SpecError(f"train.callbacks: the factory registered as {name!r} must return a "
                        f"deepnet.Callback; got {type(made).__name__}", path="train.callbacks")
    return made


class EpochSeeds(Callback):
    """Under data parallelism each rank draws its own dropout and augmentation noise,
    seeded from (seed, epoch, rank) at every epoch, so a resumed run draws the same."""

    def __init__(self, seed: int, rank: int):
        self.seed, self.rank = seed, rank

    def on_epoch_begin(self, trainer) -> None:
        s = (self.seed * 1_000_003 + trainer.epoch) * 1_009 + self.rank
        torch.manual_seed(s)
        trainer.augment_rng.manual_seed(s + 1)


class Checkpoint(Callback):
    """Writes the whole training state at the start and after every epoch.

    In the training thread, on purpose: on a machine whose cores all run torch's
    intra-op threads (a 2-core laptop), a writer thread preempts them, and each
    millisecond of its CPU time cost two to three of training (measured on the MLP of
    bench/overhead.py); written here it costs one.
    The per-epoch files skip fsync (a killed process still leaves the last checkpoint
    whole: atomic rename); the last one is flushed to disk when training ends."""

    def __init__(self, folder, state):
        self.folder = folder
        self.state = state  # state(trainer) -> (tensors file bytes, JSON meta)

    def _save(self, trainer) -> None:
        from deepnet.train.checkpoint import save

        data, meta = self.state(trainer)
        save(self.folder, data, meta, f"{trainer.epoch:05d}")

    def on_train_begin(self, trainer) -> None:
        if trainer.epoch == 0 and not trainer.resumed:
            self._save(trainer)

    def on_epoch_end(self, trainer, logs: dict) -> None:
        self._save(trainer)

    def on_train_end(self, trainer) -> None:
        from deepnet.train.checkpoint import flush

        flush(self.folder)


class MetricsLog(Callback):
    """metrics.jsonl: one JSON line per epoch. Written whole (atomically) from the
    history when training starts or resumes, then one line appended per epoch in a
    single write, which a killed process cannot leave half done; the checkpoint holds
    the history durably, so no fsync."""

    def __init__(self, path):
        self.path = path

    def on_train_begin(self, trainer) -> None:

        text = "".join(json_text(h, indent=None) + "\n" for h in trainer.history)
        write_text_atomic(self.path, text, durable=False)

    def on_epoch_end(self, trainer, logs: dict) -> None:
        with open(self.path, "a") as f:
            f.write(json_text(logs, indent=None) + "\n")  # strict JSON: NaN as null


class Progress(Callback):
    """Training progress on stderr (deepnet.core.progress): a live bar over each epoch's
    batches, and one line per finished epoch that fits the terminal. The columns are
    dropped in this order as the width shrinks: seconds, lr, train metric, train loss,
    val loss; the epoch, the val metric and the ETA always show."""

    def __init__(self, epochs: int, steps: int, main_metric: str):
        self.epochs, self.steps, self.main = epochs, steps, main_metric
        self.bar = None
        self.started = 0.0
        self.first_epoch = 0

    def on_train_begin(self, trainer) -> None:
        from deepnet.core.progress import bar

        self.started, self.first_epoch = time.perf_counter(), trainer.epoch
        self.batches = 0
        self.bar = bar(f"epoch {trainer.epoch + 1}/{self.epochs}", self.steps, "batches",
                       bookends=False)
        self.bar.__enter__()

    def on_epoch_begin(self, trainer) -> None:
        self.bar.restart(f"epoch {trainer.epoch + 1}/{self.epochs}", self.steps)

    def on_batch_end(self, trainer, loss: float) -> None:
        self.batches += 1
        left = (self.epochs - trainer.epoch) * self.steps - self.bar.done - 1
        self.bar.advance(eta=(time.perf_counter() - self.started) / self.batches * left)

    def on_epoch_end(self, trainer, logs: dict) -> None:
        self.bar.say(epoch_line(logs, self.epochs, self.main, self._eta(logs), self.bar.width))

    def _eta(self, logs: dict) -> float:
        done = logs["epoch"] - self.first_epoch
        return (time.perf_counter() - self.started) / done * (self.epochs - logs["epoch"])

    def on_train_end(self, trainer) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None

    on_train_abort = on_train_end


def epoch_line(logs: dict, epochs: int, metric: str, eta: float, width: int | None) -> str:
    """An epoch's line, fitted to `width` (see Progress for the order of dropping)."""
    from deepnet.core.progress import KEEP, duration, fit

    m = metric
    val = f"val_{m}" in logs  # none without a validation split: the train metric stays
    fields = [(f"epoch {logs['epoch']}/{epochs}", KEEP),
              (f"train_loss {logs['train_loss']:.4f}", 2),
              *([(f"val_loss {logs['val_loss']:.4f}", 3)] if val else []),
              (f"train_{m} {logs['train_' + m]:.4f}", 1 if val else KEEP),
              *([(f"val_{m} {logs['val_' + m]:.4f}", KEEP)] if val else []),
              (f"lr {logs['lr']:.2e}", 0.5),
              (f"{logs['seconds']:.2f}s", 0),
              (f"ETA {duration(eta)}", KEEP)]
    return fit(fields, width)
