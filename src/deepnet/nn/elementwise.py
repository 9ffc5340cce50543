"""Layers that keep the shape of a sample: batchnorm, layernorm, dropout and activation."""

from __future__ import annotations

import math
from typing import ClassVar

from torch import nn

from deepnet.core.schema import Fraction, registered
from deepnet.nn import activations
from deepnet.nn.cost import Saved, activation_saves, no_flops, per_element
from deepnet.nn.layer_type import Args, Built, Context, LayerType, NoArgs, Node, Shape
from deepnet.nn.modules import TimeMajor

_ANY_SHAPE = "(features,), (time, features) or an image"


class DropoutArgs(Args):
    main: ClassVar[str] = "rate"
    rate: Fraction = 0.5


class ActivationArgs(Args):
    main: ClassVar[str] = "name"
    name: registered(activations.ACTIVATIONS)


def _batchnorm(n: Node, s: Shape, ctx: Context) -> Built:
    """Over the features of each time step of a sequence; the channels of an image."""
    n.need_rank(s, (1, 2, 3), _ANY_SHAPE)
    if len(s) == 2:
        return Built(TimeMajor(nn.BatchNorm1d(s[1])), s)
    return Built(nn.BatchNorm2d(s[0]) if len(s) == 3 else nn.BatchNorm1d(s[0]), s)


def _layernorm(n: Node, s: Shape, ctx: Context) -> Built:
    """Over the features; over the whole sample for images."""
    n.need_rank(s, (1, 2, 3), _ANY_SHAPE)
    return Built(nn.LayerNorm(list(s) if len(s) == 3 else s[-1]), s)


def _batchnorm_saves(a: NoArgs, s: Shape, out: Shape, e: int) -> Saved:
    channels = s[1] if len(s) == 2 else s[0]  # sequences: features; images: channels
    return Saved(input=True, per_batch=2 * 4 * channels,
                 layout="channels" if len(s) == 2 else "batch")


def _layernorm_saves(a: NoArgs, s: Shape, out: Shape, e: int) -> Saved:
    rows = s[0] if len(s) == 2 else 1  # mean and 1/std per normalised row, in fp32
    return Saved(input=True, extra=2 * 4 * rows)


def _dropout(n: Node, s: Shape, ctx: Context) -> Built:
    return Built(nn.Dropout(n.args.rate), s)


def _dropout_saves(a: DropoutArgs, s: Shape, out: Shape, e: int) -> Saved:
    return Saved(extra=math.prod(s) * e) if a.rate else Saved(view=True)  # a float mask


def _activation(n: Node, s: Shape, ctx: Context) -> Built:
    return Built(activations.get(n.args.name), s)


def _activation_saves(a: ActivationArgs, s: Shape, out: Shape, e: int) -> Saved:
    keep = activation_saves(a.name)
    return Saved(input=keep == "input", output=keep == "output", view=keep is None)


TYPES = {
    "batchnorm": LayerType(NoArgs, _batchnorm, per_element(2), _batchnorm_saves),
    "layernorm": LayerType(NoArgs, _layernorm, per_element(5), _layernorm_saves),
    "dropout": LayerType(DropoutArgs, _dropout, no_flops, _dropout_saves),
    "activation": LayerType(ActivationArgs, _activation, per_element(1), _activation_saves),
}
