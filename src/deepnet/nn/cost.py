"""The vocabulary of a layer type's cost model: what it keeps for backward (`Saved`), its
forward FLOPs and its backward FLOPs. Each layer type states its own (LayerType.flops,
.saves, .backward); deepnet.nn.saved adds the kept tensors up over a network and
deepnet.resources turns them into memory and time estimates."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from deepnet.nn.activations import ACTIVATIONS

Shape = tuple[int, ...]  # per sample, without the batch axis


@dataclass(frozen=True)
class Saved:
    """What one layer keeps for backward, in bytes per sample, from its args and shapes.

    The figures model PyTorch's CPU kernels, as `saved_tensors_hooks` sees them; the walk
    that adds them up over a network is deepnet.nn.saved."""

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
    holds_input: bool = False  # its input stays alive while its layers run (a skip)


def activation_saves(name: str) -> str | None:
    """Which tensor an activation keeps for backward: its result, its argument, or
    nothing (each entry of ACTIVATIONS states it; read each time, so that an activation
    registered from Python counts too)."""
    return ACTIVATIONS[name].saves


def no_flops(a: Any, s: Shape, out: Shape) -> int:
    return 0


def per_element(k: int) -> Callable[[Any, Shape, Shape], int]:
    """Forward FLOPs of `k` per element of the input."""
    return lambda a, s, out: k * math.prod(s)


def keeps_nothing(a: Any, s: Shape, out: Shape, e: int) -> Saved:
    return Saved()


def weight_and_input_grads(forward: int, weights: bool, input_grad: bool) -> int:
    """Backward FLOPs per sample: about one forward for the weight gradient when the layer
    has weights, and one more for the input gradient when its input needs one (some
    earlier layer has weights). Dense/conv ~2x forward, elementwise ~1x, nothing before
    the first layer with weights."""
    return forward * (int(weights) + int(input_grad))
