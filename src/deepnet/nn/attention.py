"""Attention layers on (time, features) sequences: attention (multi-head self-attention)
and transformer (a post-norm encoder block)."""

from __future__ import annotations

from typing import ClassVar

from torch import nn

from deepnet.core.schema import Fraction, PositiveInt
from deepnet.nn.cost import Saved
from deepnet.nn.init import initialise
from deepnet.nn.layer_type import Args, Built, Context, LayerType, Node, Shape


class AttentionArgs(Args):
    main: ClassVar[str] = "heads"
    heads: PositiveInt = 1


class TransformerArgs(AttentionArgs):
    ff_units: PositiveInt | None = None  # default: 4 x the feature size
    dropout: Fraction = 0.0


class SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.mha = nn.MultiheadAttention(dim, heads, batch_first=True)

    def forward(self, x):
        return self.mha(x, x, x, need_weights=False)[0]


def _check_heads(n: Node, s: Shape) -> None:
    n.need_rank(s, (2,), "(time, features)")
    if s[1] % n.args.heads:
        raise n.shape_error(s, f"a feature size divisible by heads={n.args.heads}")


def _attention(n: Node, s: Shape, ctx: Context) -> Built:
    _check_heads(n, s)
    layer = SelfAttention(s[1], n.args.heads)
    initialise(layer, ctx.init, "linear", ctx.generator)
    return Built(layer, s)


def _transformer(n: Node, s: Shape, ctx: Context) -> Built:
    a: TransformerArgs = n.args
    _check_heads(n, s)
    layer = nn.TransformerEncoderLayer(s[1], a.heads, a.ff_units or 4 * s[1], a.dropout,
                                       batch_first=True)
    initialise(layer, ctx.init, "relu", ctx.generator)
    return Built(layer, s)


def _attention_flops(a: AttentionArgs, s: Shape, out: Shape) -> int:
    t, d = s
    return 2 * t * d * d * 4 + 2 * 2 * t * t * d  # q, k, v, out projections; scores; mix


def _transformer_flops(a: TransformerArgs, s: Shape, out: Shape) -> int:  # + feed-forward
    return _attention_flops(a, s, out) + 2 * 2 * s[0] * s[1] * (a.ff_units or 4 * s[1])


def _attention_saves(a: AttentionArgs, s: Shape, out: Shape, e: int) -> Saved:
    """Fused attention: a time-major copy of the input, q/k/v, the output, log-sum-exp."""
    t, d = s
    return Saved(extra=(4 * t * d + a.heads * t) * e, time_major=t * d * e, layout="time",
                 work=(4 * t * d + a.heads * t * t) * e, casts_weights=True)


def _transformer_saves(a: TransformerArgs, s: Shape, out: Shape, e: int) -> Saved:
    """Attention dropout takes the unfused path, which keeps the attention weights
    (softmax, mask, dropped) and more copies; each dropout keeps a mask."""
    t, d = s
    ff, h = a.ff_units or 4 * d, a.heads
    if a.dropout:
        extra = 11 * t * d + 3 * t * ff + 3 * h * t * t
    else:
        extra = 7 * t * d + t * ff + h * t
    return Saved(extra=extra * e + 4 * 4 * t, time_major=t * d * e, casts_weights=True,
                 work=(4 * t * d + h * t * t + t * ff) * e)


TYPES = {
    "attention": LayerType(AttentionArgs, _attention, _attention_flops, _attention_saves),
    "transformer": LayerType(TransformerArgs, _transformer, _transformer_flops,
                             _transformer_saves),
}
