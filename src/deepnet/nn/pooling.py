"""Pooling: maxpool1d, maxpool2d, avgpool2d and globalavgpool."""

from __future__ import annotations

import math
from typing import ClassVar

from torch import nn

from deepnet.core.schema import PositiveInt
from deepnet.nn.cost import Saved, keeps_nothing, per_element
from deepnet.nn.layer_type import Args, Built, Context, LayerType, NoArgs, Node, Shape
from deepnet.nn.modules import TimeMajor


class PoolArgs(Args):
    main: ClassVar[str] = "size"
    size: PositiveInt = 2
    stride: PositiveInt | None = None


class GlobalAvgPool(nn.Module):
    def __init__(self, dims: tuple[int, ...]):
        super().__init__()
        self.dims = dims

    def forward(self, x):
        return x.mean(dim=self.dims)


def _pool(dims: int, cls: type[nn.Module]):
    """Pooling over the last `dims` axes of an image (2) or the time axis of a sequence (1)."""

    def build(n: Node, s: Shape, ctx: Context) -> Built:
        a: PoolArgs = n.args
        stride = a.stride or a.size
        n.need_rank(s, (dims + 1,), "(channels, height, width)" if dims == 2 else
                  "(time, features)")
        spatial = s[1:] if dims == 2 else s[:1]
        out = tuple((size - a.size) // stride + 1 for size in spatial)
        if min(out) < 1:
            raise n.shape_error(s, f"spatial sizes of at least {a.size}")
        if dims == 2:
            return Built(cls(a.size, stride), (s[0], *out))
        return Built(TimeMajor(cls(a.size, stride)), (out[0], s[1]))

    def flops(a: PoolArgs, s: Shape, out: Shape) -> int:  # a window's worth per output
        return math.prod(out) * a.size**dims

    return build, flops


def _maxpool_saves(layout: str):
    def saves(a: PoolArgs, s: Shape, out: Shape, e: int) -> Saved:  # input, int64 indices
        return Saved(input=True, extra=8 * math.prod(out), layout=layout)

    return saves


def _globalavgpool(n: Node, s: Shape, ctx: Context) -> Built:
    n.need_rank(s, (2, 3), "(time, features) or (channels, height, width)")
    dims = (2, 3) if len(s) == 3 else (1,)
    return Built(GlobalAvgPool(dims), (s[0],) if len(s) == 3 else (s[1],))


TYPES = {
    "maxpool1d": LayerType(PoolArgs, *_pool(1, nn.MaxPool1d), _maxpool_saves("channels")),
    "maxpool2d": LayerType(PoolArgs, *_pool(2, nn.MaxPool2d), _maxpool_saves("batch")),
    "avgpool2d": LayerType(PoolArgs, *_pool(2, nn.AvgPool2d),
                           lambda a, s, out, e: Saved(input=True)),
    "globalavgpool": LayerType(NoArgs, _globalavgpool, per_element(1), keeps_nothing),
}
