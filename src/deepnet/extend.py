"""Extending deepnet from Python: a layer, activation, loss, metric or callback of one's
own, registered by name and then usable from any spec like a built-in one.

    class ScaleArgs(deepnet.LayerArgs):
        factor: float = 2.0

    deepnet.register_layer("scale", lambda args, shape: Scale(args.factor), ScaleArgs)
    spec["model"]["layers"].insert(1, {"scale": {"factor": 3.0}})

Registration happens in Python only, in the process that trains, loads or tunes: a spec
names a registered thing, it never imports code. A run trained with a registered layer
is loaded (or resumed) by a process that registered the same layer first. Registering a
name again replaces the earlier registration (a notebook cell run twice); a built-in
name is refused (RegistrationError, a ValueError). `unregister(kind, name)` undoes one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from deepnet.core.errors import DeepnetError
from deepnet.nn.activations import ACTIVATIONS, Activation
from deepnet.nn.custom import custom_type
from deepnet.nn.layer_type import Args
from deepnet.nn.layers import LAYERS, unregister_layer
from deepnet.nn.layers import register_layer as _add_layer
from deepnet.train.callbacks import CALLBACKS, Callback
from deepnet.train.losses import LOSSES, LossType
from deepnet.train.metrics import METRICS, Metric

TASKS = ("classification", "regression")


class RegistrationError(DeepnetError, ValueError):
    """A registration that cannot be made: a taken name, a wrong argument."""


REGISTRIES = {"layer": LAYERS, "activation": ACTIVATIONS, "loss": LOSSES, "metric": METRICS,
              "callback": CALLBACKS}
BUILT_IN = {kind: frozenset(registry) for kind, registry in REGISTRIES.items()}


def _check(name: Any, what: str) -> None:
    """A valid name for a new `what` (not a built-in one)."""
    if not isinstance(name, str) or not name.isidentifier():
        raise RegistrationError(f"{what}: a name is a Python identifier (e.g. my_{what}); "
                                f"got {name!r}")
    if name in BUILT_IN[what]:
        raise RegistrationError(f"{what} {name!r} is built in; choose another name")
    if what == "metric" and name == "loss":  # train_loss and val_loss are the loss's
        raise RegistrationError("metric 'loss' would be logged as train_loss and val_loss, "
                                "which are the loss's; choose another name")


def _replacing(what: str, name: str) -> None:
    """A name registered before from Python is replaced: its entry goes first."""
    if name in REGISTRIES[what]:
        unregister(what, name)


def unregister(kind: str, name: str) -> None:
    """Undo a registration from Python: `kind` is layer, activation, loss, metric or
    callback. A built-in name, or one not registered, is a RegistrationError."""
    if kind not in REGISTRIES:
        raise RegistrationError(f"unregister: kind must be one of {', '.join(REGISTRIES)}; "
                                f"got {kind!r}")
    if name in BUILT_IN[kind] or name not in REGISTRIES[kind]:
        raise RegistrationError(f"{kind} {name!r} is "
                                f"{'built in' if name in BUILT_IN[kind] else 'not registered'}"
                                "; only a registration from Python can be undone")
    if kind == "layer":
        unregister_layer(name)
    else:
        REGISTRIES[kind].remove(name)


def _callable(fn: Any, what: str, expected: str) -> None:
    if not callable(fn):
        raise RegistrationError(f"{what}: expected {expected}; got {type(fn).__name__}")


def _task(task: Any, what: str) -> None:
    if task not in TASKS:
        raise RegistrationError(f"{what}: task must be one of {', '.join(TASKS)}; got {task!r}")


def register_layer(name: str, builder: Callable[[Any, tuple[int, ...]], nn.Module],
                   args: type[Args] | None = None, *,
                   flops: Callable[[Any, tuple, tuple], int] | None = None) -> None:
    """A layer type `name` for specs (`- name: {...}`): `builder(args, input_shape)`
    returns the torch module for one place in the network; `args` is its arguments'
    model (a subclass of deepnet.LayerArgs, a pydantic model; default: no arguments);
    `flops(args, input_shape, output_shape)` its forward FLOPs per sample (default 0).
    The output shape is inferred by running the module; weights are seeded from the
    spec's seed; the summary counts its parameters; the memory estimate excludes its
    activations and says so (deepnet.nn.custom)."""
    _check(name, "layer")
    _callable(builder, "layer", "a function (args, input_shape) -> torch.nn.Module")
    if args is not None and not (isinstance(args, type) and issubclass(args, Args)):
        raise RegistrationError(f"layer {name!r}: args must be a subclass of "
                                f"deepnet.LayerArgs; got {args!r}")
    _replacing("layer", name)
    try:
        _add_layer(name, custom_type(name, builder, args, flops))
    except ValueError as e:
        raise RegistrationError(str(e)) from None


def register_activation(name: str, make: Callable[[], nn.Module], *,
                        init: str = "xavier_uniform") -> None:
    """An activation `name` for `activation:` of any layer: `make()` returns its module;
    `init` the weight initialisation it calls for in the layer before it."""
    from deepnet.nn.init import INITS

    _check(name, "activation")
    _callable(make, "activation", "a function () -> torch.nn.Module")
    if init not in INITS:
        raise RegistrationError(f"activation {name!r}: {INITS.unknown(init)}")
    _replacing("activation", name)
    ACTIVATIONS.register(name)(Activation(make, init, "input"))


def register_loss(name: str, loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], *,
                  task: str, one_output: bool = False) -> None:
    """A loss `name` for `train.loss`: `loss(outputs, targets)` a scalar tensor. The
    targets are class indices (int64) for classification, values (float32, one per
    sample) for regression; `one_output` for a classifier of one logit."""
    _check(name, "loss")
    _callable(loss, "loss", "a function (outputs, targets) -> scalar tensor")
    _task(task, f"loss {name!r}")
    _replacing("loss", name)
    LOSSES.register(name)(LossType(lambda spec, y, n, device: loss, task,
                                   one_output=one_output))


def register_metric(name: str, metric: Callable[[torch.Tensor, torch.Tensor], float], *,
                    task: str, higher_is_better: bool = True) -> None:
    """A metric `name` for `train.metrics` (logged as train_<name> and val_<name>, and a
    possible early-stopping monitor): `metric(outputs, targets)` a float over a whole
    split's outputs."""
    _check(name, "metric")
    _callable(metric, "metric", "a function (outputs, targets) -> float")
    _task(task, f"metric {name!r}")
    _replacing("metric", name)
    METRICS.register(name)(Metric(task, lambda out, y: float(metric(out, y)),
                                  bool(higher_is_better)))


def register_callback(name: str, make: Callable[[], Callback]) -> None:
    """A callback `name` for `train.callbacks`: `make()` returns a new deepnet.Callback
    for each run. Its state (state_dict, tensors) is checkpointed, so a resumed run
    carries on exactly."""
    _check(name, "callback")
    _callable(make, "callback", "a function () -> deepnet.Callback")
    _replacing("callback", name)
    CALLBACKS.register(name)(make)
