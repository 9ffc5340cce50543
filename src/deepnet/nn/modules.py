"""The small torch modules that several layer types share."""

from __future__ import annotations

from torch import nn

from deepnet.nn import activations


class WithActivation(nn.Module):
    """An affine operation (linear or convolution) followed by its activation."""

    def __init__(self, op: nn.Module, activation: str):
        super().__init__()
        self.op = op
        self.act = activations.get(activation)

    def forward(self, x):
        return self.act(self.op(x))


class TimeMajor(nn.Module):
    """Runs a channels-first 1-d module on (batch, time, features) sequences."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x.transpose(1, 2)).transpose(1, 2)
