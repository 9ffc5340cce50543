"""Activations by name: one registry and one `get` (Keras `activations.get`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from deepnet.core.registry import Registry


@dataclass(frozen=True)
class Activation:
    make: Callable[[], nn.Module]
    # The initialisation it calls for: Kaiming keeps the variance of the ReLU family's
    # half-rectified outputs; Xavier suits the symmetric saturating ones.
    init: str


ACTIVATIONS: Registry[Activation] = Registry("activation", {
    "sigmoid": Activation(nn.Sigmoid, "xavier_uniform"),
    "tanh": Activation(nn.Tanh, "xavier_uniform"),
    "relu": Activation(nn.ReLU, "kaiming_normal"),
    "leaky_relu": Activation(lambda: nn.LeakyReLU(0.01), "kaiming_normal"),
    "elu": Activation(nn.ELU, "kaiming_normal"),
    "gelu": Activation(nn.GELU, "kaiming_normal"),
    "silu": Activation(nn.SiLU, "kaiming_normal"),
    "softmax": Activation(lambda: nn.Softmax(dim=-1), "xavier_uniform"),
    "linear": Activation(nn.Identity, "xavier_uniform"),
})


def get(name: str) -> nn.Module:
    """A new activation module, e.g. `get("relu")`; ValueError listing the valid names."""
    return ACTIVATIONS.get(name).make()
