"""Recurrent layers: lstm and gru, on (time, features) sequences."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from deepnet.core.schema import PositiveInt
from deepnet.nn.cost import Saved
from deepnet.nn.init import initialise
from deepnet.nn.layer_type import Args, Built, Context, LayerType, Node, Shape


class RecurrentArgs(Args):
    main: ClassVar[str] = "units"
    units: PositiveInt
    bidirectional: bool = False
    return_sequences: bool = False


class Recurrent(nn.Module):
    def __init__(self, rnn: nn.LSTM | nn.GRU, return_sequences: bool):
        super().__init__()
        self.rnn = rnn
        self.return_sequences = return_sequences

    def forward(self, x):
        out, _ = self.rnn(x)
        if self.return_sequences:
            return out
        if not self.rnn.bidirectional:
            return out[:, -1]
        h = self.rnn.hidden_size  # the backward direction ends at the first step
        return torch.cat([out[:, -1, :h], out[:, 0, h:]], dim=-1)


def _recurrent(cls: type[nn.LSTM] | type[nn.GRU], gates: int):
    """The builder and the forward FLOPs of an RNN with `gates` gates."""

    def build(n: Node, s: Shape, ctx: Context) -> Built:
        a: RecurrentArgs = n.args
        n.need_rank(s, (2,), "(time, features)")
        rnn = cls(s[1], a.units, batch_first=True, bidirectional=a.bidirectional)
        initialise(rnn, ctx.init, "tanh", ctx.generator)
        dirs = 2 if a.bidirectional else 1
        out = (s[0], dirs * a.units) if a.return_sequences else (dirs * a.units,)
        return Built(Recurrent(rnn, a.return_sequences), out)

    def flops(a: RecurrentArgs, s: Shape, out: Shape) -> int:
        dirs = 2 if a.bidirectional else 1
        return 2 * s[0] * dirs * gates * a.units * (s[1] + a.units)

    return build, flops


def _good_ld(n: int) -> int:
    """oneDNN's leading dimension: 64-byte aligned and not a multiple of 1 KiB."""
    ld = -(-n // 16) * 16
    return ld + 16 if ld % 256 == 0 else ld


def _lstm_saves(a: RecurrentArgs, s: Shape, out: Shape, e: int) -> Saved:
    """oneDNN LSTM (CPU): a time-major copy of the input, per direction the output
    sequence, initial and final (h, c), and the workspace (gates, states, diff states),
    each part of it aligned to a page."""
    t, f, h, d = s[0], s[1], a.units, 2 if a.bidirectional else 1
    parts = (t * _good_ld(4 * h) * 4, t * _good_ld(h) * 4,
             *[2 * (t + 1) * _good_ld(max(f, h)) * 4] * 3, *[2 * (t + 1) * h * 4] * 2)
    one_way = d == 1  # the output is then a view of the kept output sequence
    sequences = 0 if one_way else d * t * h  # two directions: kept, then concatenated
    return Saved(extra=(4 * d * h + sequences) * e, paged=parts * d, output=one_way,
                 time_major=t * f * e, out_storage=t * h * e if one_way else 0,
                 layout="time" if a.return_sequences else "batch", work=d * 4 * t * h * e,
                 casts_weights=True)


def _gru_saves(a: RecurrentArgs, s: Shape, out: Shape, e: int) -> Saved:
    """GRU (CPU, step by step): per direction a time-major copy of the input and, per time
    step, the hidden-gate projection (3 units) and four unit-sized states."""
    t, f, h, d = s[0], s[1], a.units, 2 if a.bidirectional else 1
    last = d == 1 and not a.return_sequences  # the last step of the stacked sequence
    return Saved(extra=d * 7 * t * h * e, time_major=d * t * f * e,
                 out_storage=t * h * e if last else 0, work=d * 3 * t * h * e,
                 layout="time" if a.return_sequences else "batch", casts_weights=True)


TYPES = {
    "lstm": LayerType(RecurrentArgs, *_recurrent(nn.LSTM, 4), _lstm_saves),
    "gru": LayerType(RecurrentArgs, *_recurrent(nn.GRU, 3), _gru_saves),
}
