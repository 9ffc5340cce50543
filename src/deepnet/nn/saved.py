"""What a network keeps for backward, added up over its layer tree without running
anything: each layer type's `saves` (deepnet.nn.layer_type.Saved, from its args and
shapes) combined with the tensors that flow between the layers.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel

from deepnet.nn.cost import Saved, Shape
from deepnet.nn.inputs import MERGES, Front
from deepnet.nn.layer_type import Node, Row
from deepnet.nn.layers import LAYERS
from deepnet.nn.tree import model_tree

PAGE = 4096  # oneDNN aligns each part of its RNN workspace to a page


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


def _walk(nodes: Sequence[Node], flow: _Flow, rows: Mapping[str, Row], t: _Tally) -> _Flow:
    """The flow after `nodes`: each node's layers inside first, then its own row."""
    for node in nodes:
        if isinstance(node.args, Front):
            flow = _front(node, flow, rows, t)
            continue
        row = rows.get(node.path)  # a repeat has none
        s = (LAYERS[node.type].saves(node.args, flow.shape, row.output_shape, t.e)
             if row is not None else Saved())
        held = flow.storage if s.holds_input else 0
        t.held += held
        for block in node.blocks:
            flow = _walk(block, flow, rows, t)
        if row is not None:
            flow = _layer(s, row, flow, t)
        t.held -= held
    return flow


def _front(node: Node, flow: _Flow, rows: Mapping[str, Row], t: _Tally) -> _Flow:
    """The flow after the front of several inputs: each input's features (its numeric
    columns taken, its codes looked up) through its own layers, then the merge. Each
    embedding keeps its int64 codes; a product keeps the merged outputs."""
    front: Front = node.args
    t.held += flow.storage
    outs = []
    for part, block in zip(front.parts, node.blocks, strict=True):
        start = _Flow(part.input_shape, part.width * t.e, grad=bool(part.embedded))
        t.peak = max(t.peak, t.held + start.storage)
        outs.append(_walk(block, start, rows, t))
        t.held += outs[-1].storage
    t.held -= flow.storage + sum(o.storage for o in outs)
    grad = any(o.grad for o in outs)
    t.per_sample += 8 * front.embedded
    if MERGES[front.merge].keeps_inputs and grad:
        t.per_sample += sum(o.storage for o in outs if not o.saved)
    if len(outs) == 1:  # nothing to merge: the input's output as it is
        return outs[0]
    shape = rows[node.path].output_shape
    out = math.prod(shape) * t.e
    t.peak = max(t.peak, t.held + flow.storage + sum(o.storage for o in outs) + out)
    return _Flow(shape, out, grad=grad)


def _layer(s: Saved, row: Row, flow: _Flow, t: _Tally) -> _Flow:
    copied = s.needs_batch_major and flow.layout != "batch"  # a strided input is copied
    keeps_input = s.input or (s.time_major and flow.layout == "time")
    out = math.prod(row.output_shape) * t.e
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
            t.per_sample += math.prod(flow.shape) * t.e if copied else flow.storage
    if s.view and not copied:
        return _Flow(row.output_shape, flow.storage, flow.saved, active, flow.layout)
    return _Flow(row.output_shape, s.out_storage or out, s.output and active, active,
                 s.layout)


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


def saved_activations(layers: Sequence[BaseModel], input_shape: Shape, rows: Sequence[Row],
                      element_bytes: int = 4, front=None) -> Activations:
    """The activations of validated spec `layers` (behind `front`, deepnet.nn.inputs),
    given the summary `rows` that `build_model` returned for them (shapes and parameter
    counts)."""
    tree = model_tree(layers, front)
    first = LAYERS[tree[0].type].input_bytes or element_bytes
    tally = _Tally(element_bytes)
    flow = _Flow(tuple(input_shape), math.prod(input_shape) * first)
    _walk(tree, flow, {r.path: r for r in rows}, tally)
    return Activations(tally.per_sample, tally.per_batch, tuple(tally.paged),
                       tally.peak + flow.storage)
