"""The spec's `train` section: optimizer, loss, schedule, stopping, device. Names come
from the registries of deepnet.train (OPTIMIZERS, LOSSES, SCHEDULES, METRICS)."""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

from pydantic import Field, field_validator

from deepnet.core.schema import (
    Fraction,
    NonNegative,
    PositiveFloat,
    PositiveInt,
    Section,
    registered,
)
from deepnet.train.callbacks import CALLBACKS
from deepnet.train.losses import LOSSES
from deepnet.train.metrics import METRICS
from deepnet.train.optim import OPTIMIZERS, SCHEDULES
from deepnet.train.tracking import TRACKERS


class Optimizer(Section):
    main: ClassVar[str] = "name"
    name: registered(OPTIMIZERS) = "adam"
    lr: PositiveFloat = 1e-3
    weight_decay: NonNegative = 0.0  # L2
    momentum: NonNegative = 0.0  # sgd, rmsprop
    nesterov: bool = False  # sgd


class Loss(Section):
    main: ClassVar[str] = "name"
    name: registered(LOSSES)
    label_smoothing: Fraction = 0.0
    class_weights: Literal["balanced"] | list[PositiveFloat] | None = None
    delta: PositiveFloat = 1.0  # huber


class Schedule(Section):
    main: ClassVar[str] = "name"
    name: registered(SCHEDULES) = "none"
    step_size: PositiveInt = 10  # step: epochs between decays
    gamma: PositiveFloat = 0.1  # step: decay factor
    factor: PositiveFloat = 0.1  # plateau: decay factor
    patience: Annotated[int, Field(ge=0)] = 3  # plateau
    max_lr: PositiveFloat | None = None  # onecycle: default 10 x optimizer.lr


class EarlyStopping(Section):
    main: ClassVar[str] = "monitor"
    monitor: str = "val_loss"
    patience: Annotated[int, Field(ge=0)] = 5
    min_delta: NonNegative = 0.0
    mode: Literal["auto", "min", "max"] = "auto"


class Keep(Section):
    """Which epoch's weights the run keeps: `best` by `monitor` (default: early stopping's
    monitor, else val_loss) or `last`; with or without early stopping."""

    main: ClassVar[str] = "epoch"
    epoch: Literal["best", "last"] = "best"
    monitor: str | None = None
    mode: Literal["auto", "min", "max"] = "auto"


class Divergence(Section):
    main: ClassVar[str] = "factor"
    factor: PositiveFloat = 1e3  # stop when a batch loss exceeds factor x the first epoch's


class Threshold(Section):
    """The decision threshold of a binary classifier, chosen on the validation split
    after training and saved with the model: the one of highest F1 (`max_f1`), or of
    highest recall at a precision (`recall_at_precision` with `precision`)."""

    main: ClassVar[str] = "choose"
    choose: Literal["max_f1", "recall_at_precision"] = "max_f1"
    precision: Annotated[float, Field(gt=0, le=1)] = 0.9


class Train(Section):
    epochs: PositiveInt = 30
    batch_size: PositiveInt = 64
    # true: each epoch trains on full batches only (the last short one is left out);
    # false: on every row (a last batch of one row joins the one before)
    drop_last: bool = False
    optimizer: Optimizer = Optimizer()
    l1: NonNegative = 0.0
    loss: Loss | None = None  # default: cross_entropy for classification, mse for regression
    clip_grad_norm: PositiveFloat | None = None
    schedule: Schedule = Schedule()
    early_stopping: EarlyStopping | None = EarlyStopping()
    keep: Keep | None = None  # default: the best epoch with early stopping, else the last
    divergence: Divergence = Divergence()
    metrics: list[registered(METRICS)] | None = None  # default by task
    callbacks: list[registered(CALLBACKS)] = []  # registered in Python: register_callback
    log: list[registered(TRACKERS)] = []  # csv, tensorboard, mlflow (deepnet.train.tracking)
    tracking_uri: str | None = None  # mlflow: default $MLFLOW_TRACKING_URI, else a local store
    device: str = "auto"
    # intra-op CPU threads while the run trains: auto (deepnet.train.setup.thread_count:
    # $DEEPNET_THREADS, else $OMP_NUM_THREADS, else the CPUs the process may use, at most
    # 16) or a number
    threads: PositiveInt | Literal["auto"] = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    compile: bool = False
    threshold: Threshold | None = None  # binary classification: default argmax (0.5)
    # classification: temperature scaling fitted on the validation split after training,
    # folded into the last dense layer
    calibrate: Literal["temperature"] | None = None

    @property
    def keeps_best(self) -> bool:
        """Whether the run keeps its best epoch's weights (train.keep; by default when it
        stops early)."""
        return self.keep.epoch == "best" if self.keep is not None else \
            self.early_stopping is not None

    @property
    def keep_monitor(self) -> tuple[str, str]:
        """(monitor, mode) that ranks the epochs for the best one."""
        es, keep = self.early_stopping, self.keep
        if keep is not None and keep.monitor is not None:
            return keep.monitor, keep.mode
        return (es.monitor, es.mode) if es is not None else ("val_loss", "auto")

    @field_validator("log")
    @classmethod
    def _log(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"each tracker once; got {v}")
        return v

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", v):
            raise ValueError(f"device must be auto, cpu, cuda, cuda:N or mps; got {v!r}")
        return v
