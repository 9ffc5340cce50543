"""Layers that change the form of a sample: flatten, reshape, and embedding (token ids to
vectors)."""

from __future__ import annotations

import math
from typing import ClassVar

from pydantic import Field
from torch import nn

from deepnet.core.schema import PositiveInt
from deepnet.nn.cost import Saved, no_flops
from deepnet.nn.layer_type import Args, Built, Context, LayerType, NoArgs, Node, Shape


class ReshapeArgs(Args):
    main: ClassVar[str] = "shape"
    shape: list[int] = Field(min_length=1)  # one axis may be -1: inferred


class EmbeddingArgs(Args):
    main: ClassVar[str] = "vocab"
    vocab: PositiveInt
    dim: PositiveInt = 32


class Reshape(nn.Module):
    def __init__(self, shape: Shape):
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)


def _flatten(n: Node, s: Shape, ctx: Context) -> Built:
    return Built(nn.Flatten(), (math.prod(s),))


def _reshape(n: Node, s: Shape, ctx: Context) -> Built:
    a: ReshapeArgs = n.args
    shape, total = list(a.shape), math.prod(s)
    if shape.count(-1) == 1:
        known = -math.prod(shape)
        if known > 0 and total % known == 0:
            shape[shape.index(-1)] = total // known
    if any(size < 1 for size in shape) or math.prod(shape) != total:
        raise n.shape_error(s, f"{total} values to fit shape {a.shape}")
    return Built(Reshape(tuple(shape)), tuple(shape))


def _embedding(n: Node, s: Shape, ctx: Context) -> Built:
    a: EmbeddingArgs = n.args
    n.need_rank(s, (1,), "token ids of shape (time,)")
    emb = nn.Embedding(a.vocab, a.dim)
    nn.init.normal_(emb.weight, generator=ctx.generator)
    return Built(emb, (s[0], a.dim))


def _view(a, s: Shape, out: Shape, e: int) -> Saved:  # the input's storage, batch-major
    return Saved(view=True, needs_batch_major=True)


TYPES = {
    "flatten": LayerType(NoArgs, _flatten, no_flops, _view),
    "reshape": LayerType(ReshapeArgs, _reshape, no_flops, _view),
    # It keeps the token ids (int64) for the weight gradient.
    "embedding": LayerType(EmbeddingArgs, _embedding, no_flops,
                           lambda a, s, out, e: Saved(input=True), input_bytes=8),
}
