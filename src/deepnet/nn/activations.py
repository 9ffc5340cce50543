"""Activations by name: one registry and one `get` (Keras `activations.get`). Each entry
holds every fact about its activation: how to make it, the initialisation it calls for
(deepnet.nn.init) and what it keeps for backward (deepnet.nn.cost)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from deepnet.core.registry import Registry

LEAKY_SLOPE = 0.01  # leaky_relu's slope below zero
_gain = nn.init.calculate_gain


@dataclass(frozen=True)
class Activation:
    make: Callable[[], nn.Module]
    # The initialisation it calls for: Kaiming keeps the variance of the ReLU family's
    # half-rectified outputs; Xavier suits the symmetric saturating ones.
    init: str
    # The tensor it keeps for backward: its result ("output"), its argument ("input"), or
    # nothing (None).
    saves: str | None
    gain: float = 1.0  # the weight scale of Xavier and orthogonal initialisation before it
    slope: float = 0.0  # its slope below zero, for Kaiming initialisation


ACTIVATIONS: Registry[Activation] = Registry("activation", {
    "sigmoid": Activation(nn.Sigmoid, "xavier_uniform", "output", _gain("sigmoid")),
    "tanh": Activation(nn.Tanh, "xavier_uniform", "output", _gain("tanh")),
    "relu": Activation(nn.ReLU, "kaiming_normal", "output", _gain("relu")),
    "leaky_relu": Activation(lambda: nn.LeakyReLU(LEAKY_SLOPE), "kaiming_normal", "input",
                             _gain("leaky_relu", LEAKY_SLOPE), slope=LEAKY_SLOPE),
    "elu": Activation(nn.ELU, "kaiming_normal", "input"),
    "gelu": Activation(nn.GELU, "kaiming_normal", "input"),
    "silu": Activation(nn.SiLU, "kaiming_normal", "input"),
    "softmax": Activation(lambda: nn.Softmax(dim=-1), "xavier_uniform", "output"),
    "linear": Activation(nn.Identity, "xavier_uniform", None),
})


def get(name: str) -> nn.Module:
    """A new activation module, e.g. `get("relu")`; ValueError listing the valid names."""
    return ACTIVATIONS.get(name).make()
