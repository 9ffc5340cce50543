"""The planted training faults and the near-miss controls, each applied to a clean base.

A case is a base plus an optional `setting` (changes that make the context the fault needs:
a deep stack, a small table; the setting alone is the *reference* the plant is compared
with) plus the `fault` (spec changes, the paths of `--set`), or where a spec cannot express
it a small Python plant on the built network (`build`) or on the recorded curves
(`history`). `expect`: the finding kinds that name the fault (any of them counts as
detected); kinds that deepnet.diagnose does not have are dropped when scoring, and a plant
left with none is reported as unscorable. `mechanism`: a per-run measurement that shows
the fault at work (see worker.MECHANISMS), tested against the reference like the
validation accuracy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from bench.faults.bases import hidden_layers, set_hidden

from deepnet.nn.modules import WithActivation

Changes = Callable[[dict, dict], dict]  # fn(base spec dict, data files) -> {path: value}


@dataclass(frozen=True)
class Plant:
    name: str
    bases: tuple[str, ...]
    fault: Changes
    expect: tuple[str, ...] = ()
    setting: Changes | None = None
    build: Callable[[torch.nn.Module], None] | None = None  # Python plant on the new network
    history: Callable[[list[dict]], None] | None = None  # Python plant on the logged curves
    mechanism: str | None = None  # a key of worker.MECHANISMS
    forbid: tuple[str, ...] = ()  # kinds the diagnosis must not give
    quick: tuple[str, ...] = ()  # the bases of the --quick subset
    quick_changes: dict | None = None  # applied last in the --quick subset (shorter runs)
    group: str = "plant"  # plant | near_miss
    note: str = ""


# ----------------------------------------------------------------------------- helpers
def _layers(spec: dict) -> list:
    return spec["model"]["layers"]


def _stack(spec: dict, depth: int, units: int, activation: str = "relu") -> list:
    """The base's leading shaping items (flatten), `depth` dense layers, its output layer."""
    layers = _layers(spec)
    lead = [item for item in layers if next(iter(item)) in ("flatten", "reshape")][:1]
    return [*lead, *({"dense": {"units": units, "activation": activation}}
                     for _ in range(depth)), layers[-1]]


def _with_dropout(spec: dict, rate: float) -> list:
    out = []
    hidden = {i for i, _ in hidden_layers(spec)}
    for i, item in enumerate(_layers(spec)):
        out.append(item)
        if i in hidden:
            out.append({"dropout": rate})
    return out


def _narrow(spec: dict, units: int) -> dict:
    """Every hidden dense/conv layer and recurrent layer `units` wide."""
    changes = set_hidden(spec, "units", units)
    for i, item in enumerate(_layers(spec)):
        kind = next(iter(item))
        if kind in ("gru", "lstm"):
            changes[f"model.layers[{i}].{kind}.units"] = units
    return changes


def _lr(spec: dict, factor: float) -> float:
    return float(f"{spec['train']['optimizer']['lr'] * factor:.3g}")


def _scale_weights(factor: float) -> Callable[[torch.nn.Module], None]:
    def plant(model: torch.nn.Module) -> None:
        with torch.no_grad():
            for p in model.parameters():
                if p.dim() >= 2:
                    p.mul_(factor)
    return plant


def _relu_biases(value: float) -> Callable[[torch.nn.Module], None]:
    """Every bias feeding a ReLU set to `value`."""
    def plant(model: torch.nn.Module) -> None:
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, WithActivation) and isinstance(m.act, torch.nn.ReLU) \
                        and getattr(m.op, "bias", None) is not None:
                    m.op.bias.fill_(value)
    return plant


def _val_uptick(history: list[dict]) -> None:
    """One epoch mid-run whose val loss is UPTICK above the epoch before; the rest as logged."""
    i = len(history) // 2
    if 1 <= i < len(history) and isinstance(history[i - 1].get("val_loss"), float):
        history[i]["val_loss"] = history[i - 1]["val_loss"] * (1 + UPTICK)


UPTICK = 0.2  # a single bump of 20%: ordinary noise of a small validation split
LR_HIGH = 1000.0  # "far too high": three orders of magnitude above the base's rate
LR_LOW = 1e-3  # "far too low": three orders below
INIT_SCALE = 10.0  # the "initialisation x10"
DEAD_BIAS = -10.0  # standardised inputs, Kaiming weights: pre-activations about N(0, 2)
DEEP = 6  # hidden layers of the deep stacks
SGD_HIGH = {"name": "sgd", "lr": 0.5}  # with batch 4: steps of a noisy gradient, far too big
WIDE = 512
# Adam's steps do not shrink with the gradient, so clipping cannot tame its rate: the
# clipped plant uses SGD at a rate that gives a NaN loss unclipped on these bases.
SGD_DIVERGING = {"name": "sgd", "lr": 10.0}


# ----------------------------------------------------------------------------- the plants
PLANTS: list[Plant] = [
    Plant("lr_high", ("mlp_digits", "mlp_cancer", "cnn_digits", "mlp_moons", "gru_digits"),
          lambda s, f: {"train.optimizer.lr": _lr(s, LR_HIGH)},
          ("diverged", "exploding_gradients", "unstable_training"), mechanism="grad_growth",
          quick=("mlp_digits",),
          note="learning rate x1000 (where the loss stays finite it oscillates: unstable)"),
    Plant("lr_high_clipped", ("mlp_digits", "mlp_cancer"),
          lambda s, f: {"train.optimizer": SGD_DIVERGING, "train.clip_grad_norm": 1.0},
          ("unstable_training",), forbid=("diverged",), mechanism="ups", quick=("mlp_digits",),
          note="SGD lr 10 (NaN in the first epoch unclipped) with clip_grad_norm 1: finite"),
    Plant("init_x10", ("mlp_digits", "mlp_moons"), lambda s, f: {},
          ("exploding_gradients",), setting=lambda s, f: {"model.layers": _stack(s, DEEP, 64)},
          build=_scale_weights(INIT_SCALE), mechanism="explode",
          note=f"Python: every weight x{INIT_SCALE:g} after building, in {DEEP} dense relu layers"),
    Plant("deep_sigmoid", ("mlp_digits", "mlp_cancer"),
          lambda s, f: {"model.layers": _stack(s, DEEP, 64, "sigmoid")},
          ("vanishing_gradients",), setting=lambda s, f: {"model.layers": _stack(s, DEEP, 64)},
          mechanism="vanish", note=f"{DEEP} dense sigmoid layers instead of relu"),
    Plant("zero_init", ("mlp_digits", "cnn_digits"), lambda s, f: set_hidden(s, "init", "zeros"),
          ("dead_units", "vanishing_gradients"), mechanism="dead",
          note="init: zeros on the hidden layers (relu: no unit fires, no gradient flows)"),
    Plant("negative_bias", ("mlp_digits", "cnn_digits", "mlp_moons"), lambda s, f: {},
          ("dead_units",), build=_relu_biases(DEAD_BIAS), mechanism="dead",
          quick=("mlp_moons",), note=f"Python: every relu layer's bias = {DEAD_BIAS:g}"),
    Plant("batch4_sgd_high", ("mlp_digits", "mlp_cancer"),
          lambda s, f: {"train.batch_size": 4, "train.optimizer": SGD_HIGH},
          ("unstable_training", "diverged"), mechanism="ups",
          note="batch 4, SGD lr 0.5 (diverged is right where the loss blew up)"),
    Plant("lr_low", ("mlp_digits", "cnn_digits", "mlp_moons", "gru_digits"),
          lambda s, f: {"train.optimizer.lr": _lr(s, LR_LOW)}, ("underfitting",),
          mechanism="train_acc", note="learning rate /1000"),
    Plant("two_epochs", ("mlp_digits", "cnn_digits", "gru_digits"),
          lambda s, f: {"train.epochs": 2}, ("underfitting",), mechanism="train_acc",
          quick=("mlp_digits",), note="2 epochs"),
    Plant("width_2", ("mlp_digits", "gru_digits"),
          lambda s, f: _narrow(s, 2),
          ("underfitting",), mechanism="train_acc", note="hidden width 2"),
    Plant("linear", ("mlp_moons",), lambda s, f: set_hidden(s, "activation", "linear"),
          ("underfitting",), mechanism="train_acc", quick=("mlp_moons",),
          note="linear activations on the moons (no non-linearity)"),
    Plant("small_data_wide", ("mlp_digits",),
          lambda s, f: {"model.layers": _stack(s, 2, WIDE), "train.early_stopping": None,
                        "train.epochs": 60},
          ("overfitting",), setting=lambda s, f: {"data.source": f["digits_small"]},
          mechanism="fit", note="~100 training rows, 2 x 512 relu, no regularisation, 60 epochs"),
    Plant("memorisation", ("mlp_digits",),
          lambda s, f: {"model.layers": _stack(s, 3, WIDE), "train.early_stopping": None,
                        "train.epochs": 200, "train.optimizer": {"name": "adam", "lr": 1e-3}},
          ("overfitting",), mechanism="fit", quick=("mlp_digits",),
          quick_changes={"train.epochs": 50},
          setting=lambda s, f: {"data.source": f["digits_400"],
                                "data.split": {"val": 0.25, "test": 0.25}},
          note="the issue's case: 400 rows, 3 x 512 relu, adam 1e-3, 200 epochs, no early stop"),
    Plant("unnormalised_tanh", ("mlp_cancer",), lambda s, f: {"data.normalize": "none"},
          ("vanishing_gradients", "underfitting"),
          setting=lambda s, f: set_hidden(s, "activation", "tanh"), mechanism="saturated",
          note="tanh net on raw breast_cancer columns (up to 4000): saturated units pass "
               "vanishing gradients, and the net underfits"),
    Plant("label_noise", ("mlp_digits",), lambda s, f: {"data.source": f["digits_noisy"]},
          ("label_noise",), mechanism="gap",
          note="40% of the labels replaced by another class (a finding should point to the audit)"),
    Plant("mild_lr", ("mlp_digits",), lambda s, f: {"train.optimizer.lr": _lr(s, 1.5)},
          ("underfitting",), quick=("mlp_digits",),
          note="harness probe: learning rate x1.5 is too mild to change anything (equivalent)"),
]

# Healthy configurations that look unusual: no warning is the right answer.
NEAR_MISSES: list[Plant] = [
    Plant("sgd_momentum", ("mlp_digits", "mlp_cancer"),
          lambda s, f: {"train.optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9}},
          quick=("mlp_digits",), group="near_miss", note="SGD 0.1, momentum 0.9"),
    Plant("dropout_05", ("mlp_digits", "mlp_moons"),
          lambda s, f: {"model.layers": _with_dropout(s, 0.5)}, group="near_miss",
          quick=("mlp_moons",), note="dropout 0.5 after every hidden layer"),
    Plant("batch_16", ("mlp_digits", "cnn_digits"), lambda s, f: {"train.batch_size": 16},
          group="near_miss", note="batch 16"),
    Plant("tanh", ("mlp_digits", "mlp_cancer"), lambda s, f: set_hidden(s, "activation", "tanh"),
          group="near_miss", note="tanh hidden layers"),
    Plant("val_uptick", ("mlp_digits",), lambda s, f: {}, history=_val_uptick,
          group="near_miss", quick=("mlp_digits",),
          note=f"Python: one mid-run epoch's val loss {UPTICK:.0%} above the one before"),
    Plant("augment", ("cnn_digits",),
          lambda s, f: {"data.augment": [{"rotate": 10}, {"crop": 1}]}, group="near_miss",
          note="rotation and crop augmentation: val accuracy above train"),
    Plant("dropout_cancer", ("mlp_cancer",),
          lambda s, f: {"model.layers": _with_dropout(s, 0.5)}, group="near_miss",
          note="dropout 0.5: val accuracy above train"),
]

CASES = {p.name: p for p in PLANTS + NEAR_MISSES}
