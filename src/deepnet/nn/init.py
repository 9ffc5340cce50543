"""Seeded weight initialisation, chosen by activation and overridable per layer (`init:`)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from deepnet.core.registry import Registry
from deepnet.nn.activations import ACTIVATIONS


def _gain(activation: str) -> float:
    return ACTIVATIONS.get(activation).gain


def _kaiming(fn):
    def init(w: torch.Tensor, activation: str, g: torch.Generator) -> None:
        fn(w, a=ACTIVATIONS.get(activation).slope, nonlinearity="leaky_relu", generator=g)

    return init


def _xavier(fn):
    def init(w: torch.Tensor, activation: str, g: torch.Generator) -> None:
        fn(w, gain=_gain(activation), generator=g)

    return init


Init = Callable[[torch.Tensor, str, torch.Generator], None]

INITS: Registry[Init] = Registry("init", {
    "kaiming_normal": _kaiming(nn.init.kaiming_normal_),
    "kaiming_uniform": _kaiming(nn.init.kaiming_uniform_),
    "xavier_normal": _xavier(nn.init.xavier_normal_),
    "xavier_uniform": _xavier(nn.init.xavier_uniform_),
    "orthogonal": lambda w, act, g: nn.init.orthogonal_(w, gain=_gain(act), generator=g),
    "normal": lambda w, act, g: nn.init.normal_(w, 0.0, 0.02, generator=g),
    "zeros": lambda w, act, g: nn.init.zeros_(w),
    # PyTorch's own (each module's reset_parameters; initialise applies it whole): for a
    # weight alone, what nn.Linear and nn.Conv*d draw
    "torch_default": lambda w, act, g: nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=g),
})
TORCH_DEFAULT = "torch_default"


def torch_default(module: nn.Module, g: torch.Generator) -> None:
    """PyTorch's default initialisation of every submodule (its reset_parameters: weights
    and biases as a PyTorch script that builds the same modules gets them), drawn from a
    seed taken from `g`, so that it stays seeded and leaves the global RNG alone."""
    seed = int(torch.randint(0, 2**62, (), generator=g))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in module.modules():
            reset = getattr(m, "_reset_parameters", None) or getattr(m, "reset_parameters", None)
            if callable(reset):
                reset()


def initialise(module: nn.Module, scheme: str | None, activation: str, g: torch.Generator):
    """Initialise every weight matrix of `module` in place from generator `g`.

    Biases start at zero; normalisation layers at identity; recurrent hidden-to-hidden
    weights are orthogonal per gate (keeps gradients from vanishing through time), and the
    LSTM forget-gate bias starts at 1 so the cell remembers by default.
    """
    if scheme == TORCH_DEFAULT:
        torch_default(module, g)
        return
    fill = INITS.get(scheme or ACTIVATIONS.get(activation).init)
    for name, p in module.named_parameters():
        if p.dim() < 2:  # biases to zero; normalisation scales stay at one
            if name.endswith("bias") or "bias_" in name:
                nn.init.zeros_(p)
            continue
        if "weight_hh" in name and scheme is None:
            for gate in p.data.chunk(p.shape[0] // p.shape[1]):
                nn.init.orthogonal_(gate, generator=g)
        else:
            fill(p.data, activation, g)
    if isinstance(module, nn.LSTM):
        for name, p in module.named_parameters():
            if name.startswith("bias_ih"):
                h = module.hidden_size
                p.data[h : 2 * h] = 1.0
