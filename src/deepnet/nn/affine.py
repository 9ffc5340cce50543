"""Affine layers: dense, conv1d and conv2d (a weight matrix or kernel, then an activation)."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import ClassVar, Literal

from torch import nn

from deepnet.core.schema import NonNegativeInt, PositiveInt
from deepnet.nn.cost import Saved, activation_saves
from deepnet.nn.init import initialise
from deepnet.nn.layer_type import Activated, Built, Context, LayerType, Node, Shape
from deepnet.nn.modules import TimeMajor, WithActivation


class DenseArgs(Activated):
    main: ClassVar[str] = "units"
    units: PositiveInt
    bias: bool = True


class ConvArgs(Activated):
    main: ClassVar[str] = "filters"
    filters: PositiveInt
    kernel: PositiveInt = 3
    stride: PositiveInt = 1
    padding: Literal["same", "valid"] | NonNegativeInt = "same"


# ----------------------------------------------------------------------------- builders
def _dense(n: Node, s: Shape, ctx: Context) -> Built:
    a: DenseArgs = n.args
    n.need_rank(s, (1, 2), "(features,) or (time, features)")
    lin = nn.Linear(s[-1], a.units, bias=a.bias)
    initialise(lin, a.init or ctx.init, a.activation, ctx.generator)
    return Built(WithActivation(lin, a.activation), (*s[:-1], a.units))


def _padding(a: ConvArgs) -> int | str:
    if a.padding == "same":
        return "same" if a.stride == 1 else (a.kernel - 1) // 2
    return 0 if a.padding == "valid" else a.padding


def _conv_out(n: int, a: ConvArgs) -> int:
    pad = _padding(a)
    if pad == "same":
        return n
    return (n + 2 * pad - a.kernel) // a.stride + 1


def _conv2d(n: Node, s: Shape, ctx: Context) -> Built:
    a: ConvArgs = n.args
    n.need_rank(s, (3,), "(channels, height, width)")
    h, w = _conv_out(s[1], a), _conv_out(s[2], a)
    if h < 1 or w < 1:
        raise n.shape_error(s, f"height and width of at least {a.kernel}")
    conv = nn.Conv2d(s[0], a.filters, a.kernel, a.stride, _padding(a))
    initialise(conv, a.init or ctx.init, a.activation, ctx.generator)
    return Built(WithActivation(conv, a.activation), (a.filters, h, w))


def _conv1d(n: Node, s: Shape, ctx: Context) -> Built:
    a: ConvArgs = n.args
    n.need_rank(s, (2,), "(time, features)")
    t = _conv_out(s[0], a)
    if t < 1:
        raise n.shape_error(s, f"at least {a.kernel} time steps")
    conv = nn.Conv1d(s[1], a.filters, a.kernel, a.stride, _padding(a))
    initialise(conv, a.init or ctx.init, a.activation, ctx.generator)
    return Built(TimeMajor(WithActivation(conv, a.activation)), (t, a.filters))


# ----------------------------------------------------------------------------- costs
def _dense_flops(a: DenseArgs, s: Shape, out: Shape) -> int:  # at every time step
    return 2 * (s[0] if len(s) == 2 else 1) * s[-1] * a.units


def _conv2d_flops(a: ConvArgs, s: Shape, out: Shape) -> int:
    return 2 * s[0] * a.kernel * a.kernel * a.filters * out[1] * out[2]


def _conv1d_flops(a: ConvArgs, s: Shape, out: Shape) -> int:
    return 2 * s[1] * a.kernel * a.filters * out[0]


def _affine_saves(a: Activated, s: Shape, out: Shape, e: int) -> Saved:
    """The input for the weight gradient, then the activation's result or its argument
    (the pre-activation)."""
    keep, pre = activation_saves(a.activation), math.prod(out) * e
    return Saved(input=True, output=keep == "output", extra=pre if keep == "input" else 0,
                 work=pre if keep else 0, casts_weights=True)


def _dense_saves(a: DenseArgs, s: Shape, out: Shape, e: int) -> Saved:
    return replace(_affine_saves(a, s, out, e), needs_batch_major=True)  # copies a strided input


def _conv1d_saves(a: ConvArgs, s: Shape, out: Shape, e: int) -> Saved:
    return replace(_affine_saves(a, s, out, e), layout="channels")  # runs channels-first


TYPES = {
    "dense": LayerType(DenseArgs, _dense, _dense_flops, _dense_saves),
    "conv1d": LayerType(ConvArgs, _conv1d, _conv1d_flops, _conv1d_saves),
    "conv2d": LayerType(ConvArgs, _conv2d, _conv2d_flops, _affine_saves),
}
