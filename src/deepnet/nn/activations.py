"""Activations by name: one registry and one `get` (Keras `activations.get`)."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from deepnet.core.errors import choose

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.01),
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "softmax": lambda: nn.Softmax(dim=-1),
    "linear": nn.Identity,
}

# The initialisation each activation calls for: Kaiming keeps the variance of the ReLU
# family's half-rectified outputs; Xavier suits the symmetric saturating ones.
DEFAULT_INIT: dict[str, str] = {
    "relu": "kaiming_normal",
    "leaky_relu": "kaiming_normal",
    "elu": "kaiming_normal",
    "gelu": "kaiming_normal",
    "silu": "kaiming_normal",
    "sigmoid": "xavier_uniform",
    "tanh": "xavier_uniform",
    "softmax": "xavier_uniform",
    "linear": "xavier_uniform",
}


def get(name: str) -> nn.Module:
    """A new activation module, e.g. `get("relu")`; ValueError listing the valid names."""
    return choose("activation", name, ACTIVATIONS)()
