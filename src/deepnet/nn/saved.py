"""What each layer type keeps for backward: one small function per registered layer type
(`SAVES`, name -> function of its args and its input and output shapes), and the walk
over a spec's layers that adds them up without running anything.

The figures model PyTorch's CPU kernels, as `saved_tensors_hooks` sees them: a layer
keeps its input for the weight gradient (shared with the previous layer when that kept
it too), ReLU/sigmoid/tanh/softmax keep their result and GELU/SiLU/ELU/leaky ReLU their
argument, dropout keeps a float mask, max-pooling int64 indices, normalisation its
per-row statistics, oneDNN's LSTM a page-aligned workspace, the GRU its states step by
step, fused attention a log-sum-exp (the attention weights only with attention dropout).
Nothing is kept before the first layer with weights: its input needs no gradient.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from deepnet.nn.layers import LAYERS, Row, Shape, item_parts

PAGE = 4096  # oneDNN aligns each part of its RNN workspace to a page


@dataclass(frozen=True)
class Saved:
    """What one layer keeps for backward, in bytes per sample, from its args and shapes."""

    input: bool = False  # its input (shared with the previous layer when that kept it too)
    output: bool = False  # its output (ReLU, sigmoid, tanh and softmax keep their result)
    extra: float = 0  # fresh tensors: pre-activations, masks, indices, statistics, states
    paged: tuple[float, ...] = ()  # workspace parts, each rounded up to a page per batch
    per_batch: float = 0  # whatever the batch size: batch-norm statistics
    view: bool = False  # the output is the input's storage (flatten, reshape, identity)
    # The output's memory: batch-major, or a strided view of a "time"-major tensor
    # (sequence layers) or of a "channels"-first one (1-d convolution, pooling, norm).
    layout: str = "batch"
    needs_batch_major: bool = False  # copies a strided input first (matmul, flatten)
    time_major: float = 0  # the time-major copy of the input it keeps (none if it is one)
    out_storage: float = 0  # bytes behind the output when more than its shape (a last step)
    work: float = 0  # transient bytes in a no-grad forward besides input and output
    casts_weights: bool = False  # autocast keeps a half-precision copy of its weights


def _n(shape: Sequence[int]) -> int:
    return math.prod(shape)


# Which tensor each activation keeps: its result, its argument, or nothing.
ACTIVATION_SAVES = {"relu": "output", "sigmoid": "output", "tanh": "output",
                    "softmax": "output", "gelu": "input", "silu": "input", "elu": "input",
                    "leaky_relu": "input", "linear": None}


def _affine(a, s: Shape, out: Shape, e: int) -> Saved:
    """Dense or convolution and its activation: the input for the weight gradient, then
    the activation's result or its argument (the pre-activation)."""
    keep, pre = ACTIVATION_SAVES[a.activation], _n(out) * e
    return Saved(input=True, output=keep == "output", extra=pre if keep == "input" else 0,
                 work=pre if keep else 0, casts_weights=True)


def _dense(a, s: Shape, out: Shape, e: int) -> Saved:  # a matmul copies a strided input
    return replace(_affine(a, s, out, e), needs_batch_major=True)


def _conv1d(a, s: Shape, out: Shape, e: int) -> Saved:  # runs channels-first
    return replace(_affine(a, s, out, e), layout="channels")


def _maxpool(layout: str):
    def saves(a, s: Shape, out: Shape, e: int) -> Saved:  # the input and int64 indices
        return Saved(input=True, extra=8 * _n(out), layout=layout)
    return saves


def _good_ld(n: int) -> int:
    """oneDNN's leading dimension: 64-byte aligned and not a multiple of 1 KiB."""
    ld = -(-n // 16) * 16
    return ld + 16 if ld % 256 == 0 else ld


def _lstm(a, s: Shape, out: Shape, e: int) -> Saved:
    """oneDNN LSTM (CPU): a time-major copy of the input, per direction the output
    sequence, initial and final (h, c), and the workspace (gates, states, diff states)."""
    t, f, h, d = s[0], s[1], a.units, 2 if a.bidirectional else 1
    parts = (t * _good_ld(4 * h) * 4, t * _good_ld(h) * 4,
             *[2 * (t + 1) * _good_ld(max(f, h)) * 4] * 3, *[2 * (t + 1) * h * 4] * 2)
    one_way = d == 1  # the output is then a view of the kept output sequence
    sequences = 0 if one_way else d * t * h  # two directions: kept, then concatenated
    return Saved(extra=(4 * d * h + sequences) * e, paged=parts * d, output=one_way,
                 time_major=t * f * e, out_storage=t * h * e if one_way else 0,
                 layout="time" if a.return_sequences else "batch", work=d * 4 * t * h * e,
                 casts_weights=True)


def _gru(a, s: Shape, out: Shape, e: int) -> Saved:
    """GRU (CPU, step by step): per direction a time-major copy of the input and, per time
    step, the hidden-gate projection (3 units) and four unit-sized states."""
    t, f, h, d = s[0], s[1], a.units, 2 if a.bidirectional else 1
    last = d == 1 and not a.return_sequences  # the last step of the stacked sequence
    return Saved(extra=d * 7 * t * h * e, time_major=d * t * f * e,
                 out_storage=t * h * e if last else 0, work=d * 3 * t * h * e,
                 layout="time" if a.return_sequences else "batch", casts_weights=True)


def _attention(a, s: Shape, out: Shape, e: int) -> Saved:
    """Fused attention: a time-major copy of the input, q/k/v, the output, log-sum-exp."""
    t, d = s
    return Saved(extra=(4 * t * d + a.heads * t) * e, time_major=t * d * e, layout="time",
                 work=(4 * t * d + a.heads * t * t) * e, casts_weights=True)


def _transformer(a, s: Shape, out: Shape, e: int) -> Saved:
    """A post-norm encoder block. Attention dropout takes the unfused path, which keeps the
    attention weights (softmax, mask, dropped) and more copies; each dropout keeps a mask."""
    t, d = s
    ff, h = a.ff_units or 4 * d, a.heads
    if a.dropout:
        extra = 11 * t * d + 3 * t * ff + 3 * h * t * t
    else:
        extra = 7 * t * d + t * ff + h * t
    return Saved(extra=extra * e + 4 * 4 * t, time_major=t * d * e, casts_weights=True,
                 work=(4 * t * d + h * t * t + t * ff) * e)


def _batchnorm(a, s: Shape, out: Shape, e: int) -> Saved:
    channels = s[1] if len(s) == 2 else s[0]  # sequences: features; images: channels
    return Saved(input=True, per_batch=2 * 4 * channels,
                 layout="channels" if len(s) == 2 else "batch")


def _layernorm(a, s: Shape, out: Shape, e: int) -> Saved:
    rows = s[0] if len(s) == 2 else 1  # mean and 1/std per normalised row, in fp32
    return Saved(input=True, extra=2 * 4 * rows)


def _activation(a, s: Shape, out: Shape, e: int) -> Saved:
    keep = ACTIVATION_SAVES[a.name]
    return Saved(input=keep == "input", output=keep == "output", view=keep is None)


SAVES: dict[str, Callable[[Any, Shape, Shape, int], Saved]] = {
    "dense": _dense,
    "conv1d": _conv1d,
    "conv2d": _affine,
    "maxpool1d": _maxpool("channels"),
    "maxpool2d": _maxpool("batch"),
    "avgpool2d": lambda a, s, out, e: Saved(input=True),
    "globalavgpool": lambda a, s, out, e: Saved(),
    "flatten": lambda a, s, out, e: Saved(view=True, needs_batch_major=True),
    "reshape": lambda a, s, out, e: Saved(view=True, needs_batch_major=True),
    "embedding": lambda a, s, out, e: Saved(input=True),  # the token ids
    "lstm": _lstm,
    "gru": _gru,
    "attention": _attention,
    "transformer": _transformer,
    "batchnorm": _batchnorm,
    "layernorm": _layernorm,
    "dropout": lambda a, s, out, e: Saved(extra=_n(s) * e) if a.rate else Saved(view=True),
    "activation": _activation,
}
INPUT_BYTES = {"embedding": 8}  # token ids are int64; other inputs are activations


# ----------------------------------------------------------------------------- the walk
@dataclass
class _Flow:
    """The tensor between two layers."""

    shape: Shape
    storage: float  # bytes per sample of the storage behind it
    saved: bool = False  # autograd keeps it already
    grad: bool = False  # it needs a gradient: some layer before it has weights
    layout: str = "batch"


@dataclass
class _Tally:
    e: int  # bytes per activation element
    per_sample: float = 0
    per_batch: float = 0
    paged: list[float] = field(default_factory=list)
    peak: float = 0  # live bytes per sample in a no-grad forward
    held: float = 0  # inputs of enclosing residual blocks, live meanwhile


def _walk(items: Sequence, flow: _Flow, rows: Iterator[Row], t: _Tally) -> _Flow:
    for item in items:
        name, args = item_parts(item)
        if LAYERS[name].container:
            flow = CONTAINERS[name](args, flow, rows, t)
        else:
            flow = _layer(name, args, flow, next(rows), t)
    return flow


def _layer(name: str, args, flow: _Flow, row: Row, t: _Tally) -> _Flow:
    s = SAVES[name](args, flow.shape, row.output_shape, t.e)
    copied = s.needs_batch_major and flow.layout != "batch"  # a strided input is copied
    keeps_input = s.input or (s.time_major and flow.layout == "time")
    out = _n(row.output_shape) * t.e
    t.peak = max(t.peak, t.held + flow.storage + s.work + (0 if s.view and not copied else out))
    active = flow.grad or row.params > 0  # before the first weights nothing needs keeping
    if active:
        t.per_sample += s.extra
        t.per_batch += s.per_batch
        if s.casts_weights and flow.grad and t.e != 4:  # kept for the input's gradient
            t.per_batch += row.params * t.e
        t.paged += s.paged
        if s.output:
            t.per_sample += s.out_storage or out
        if s.time_major and not keeps_input:
            t.per_sample += s.time_major
        if keeps_input and (copied or not flow.saved):
            t.per_sample += _n(flow.shape) * t.e if copied else flow.storage
    if s.view and not copied:
        return _Flow(row.output_shape, flow.storage, flow.saved, active, flow.layout)
    return _Flow(row.output_shape, s.out_storage or out, s.output and active, active,
                 s.layout)


def _residual(args, flow: _Flow, rows: Iterator[Row], t: _Tally) -> _Flow:
    t.held += flow.storage  # the skip input stays alive while the body runs
    body = _walk(args.layers, flow, rows, t)
    t.held -= flow.storage
    row = next(rows)  # the addition's own row follows the body's
    out = _n(row.output_shape) * t.e
    t.peak = max(t.peak, t.held + flow.storage + body.storage + out)
    return _Flow(row.output_shape, out, grad=body.grad)


def _repeat(args, flow: _Flow, rows: Iterator[Row], t: _Tally) -> _Flow:
    for _ in range(args.times):
        flow = _walk(args.layers, flow, rows, t)
    return flow


CONTAINERS = {"residual": _residual, "repeat": _repeat}


@dataclass(frozen=True)
class Activations:
    """Activation bytes of a network, as a function of the batch size B:
    B * per_sample + per_batch + each of `paged` (times B) rounded up to a page."""

    per_sample: float
    per_batch: float
    paged: tuple[float, ...]
    peak: float  # live bytes per sample in a no-grad forward (the input included)

    def at(self, batch_size: int) -> int:
        kept = math.ceil(batch_size * self.per_sample + self.per_batch)
        return kept + sum(-(-math.ceil(batch_size * p) // PAGE) * PAGE for p in self.paged)


def saved_activations(layers: Sequence, input_shape: Shape, rows: Sequence[Row],
                      element_bytes: int = 4) -> Activations:
    """The activations of validated spec `layers`, given the summary `rows` that
    `build_model` returned for them (shapes and parameter counts)."""
    first = item_parts(layers[0])[0]
    tally = _Tally(element_bytes)
    flow = _Flow(tuple(input_shape), _n(input_shape) * INPUT_BYTES.get(first, element_bytes))
    _walk(layers, flow, iter(rows), tally)
    return Activations(tally.per_sample, tally.per_batch, tuple(tally.paged),
                       tally.peak + flow.storage)
