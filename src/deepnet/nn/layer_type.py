"""What a layer type is. One `LayerType` holds everything deepnet knows about a type: its
argument model, its builder (the torch module and the output shape it infers), its cost
model (forward FLOPs, what it keeps for backward, backward FLOPs) and how its summary row
is made (the cost model's vocabulary is deepnet.nn.cost). The types are defined by
family (deepnet.nn.affine, .pooling, .shaping, .recurrent, .attention, .elementwise,
.containers) and registered in deepnet.nn.layers.LAYERS; the spec, the builder, the
summary, the memory estimate and the diagnosis all read them from there.

To add a layer type: write its Args, builder, `flops` and `saves` next to its family's
(or in a new family module whose TYPES join LAYERS), then add a case to
tests/nn/test_layers.py (checked against the same layer written with torch.nn) and use
it in tests/test_resources.py (its memory estimate checked against a measurement).

Shapes are per sample, without the batch axis: images (channels, height, width),
sequences (time, features), tables (features,), token ids (time,).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import torch
from pydantic import BaseModel, ConfigDict, model_validator
from torch import nn

from deepnet.core.errors import SpecError
from deepnet.core.schema import STRICT, registered
from deepnet.nn.activations import ACTIVATIONS
from deepnet.nn.cost import Saved, Shape, weight_and_input_grads
from deepnet.nn.init import INITS


# ----------------------------------------------------------------------------- arguments
class Args(BaseModel):
    """Arguments of one layer type. A scalar or list alone gives the main argument."""

    model_config = ConfigDict(**STRICT, frozen=True)
    main: ClassVar[str | None] = None

    @model_validator(mode="before")
    @classmethod
    def _main_argument(cls, value: Any) -> Any:
        if value is None:
            return {}
        if isinstance(value, dict | BaseModel):
            return value
        if cls.main is None:
            raise ValueError(f"this layer takes no main argument; got {value!r}, write {{}}")
        return {cls.main: value}


class NoArgs(Args):
    pass


class Activated(Args):
    """An affine layer's activation and weight initialisation (default: the activation's)."""

    activation: registered(ACTIVATIONS) = "linear"
    init: registered(INITS) | None = None


# ----------------------------------------------------------------------------- the tree
class Block(NamedTuple):
    """A list of layers inside a container, with the path suffixes of this copy
    (`.repeat[1].layers`) and of the spec item it copies (`.repeat.layers`)."""

    path: str
    item_path: str
    items: Sequence[Any]


@dataclass(frozen=True)
class Node:
    """One layer of the network: a spec item at one place, `repeat` expanded. Made by
    deepnet.nn.tree.layer_tree, the one walk over the spec's nested layers."""

    type: str
    args: Any  # the type's Args
    path: str  # this copy: model.layers[3].repeat[1].layers[0]
    item_path: str  # the spec item it is a copy of: model.layers[3].repeat.layers[0]
    blocks: tuple[tuple[Node, ...], ...] = ()  # the layers inside a residual or repeat

    def shape_error(self, got: Shape, expected: str) -> SpecError:
        """This layer cannot take input of shape `got`; it expects `expected`."""
        return shape_error(self.path, self.type, got, expected)

    def need_rank(self, shape: Shape, ranks: tuple[int, ...], expected: str) -> None:
        """A shape error unless `shape` has one of `ranks` axes."""
        if len(shape) not in ranks:
            raise self.shape_error(shape, expected)


def no_blocks(a: Any) -> list[Block]:
    return []


# ----------------------------------------------------------------------------- building
@dataclass
class Context:
    """What builders share: the seeded generator, and how to build a list of nodes into
    an nn.Sequential (for the blocks of residual and repeat)."""

    generator: torch.Generator
    build: Callable[[Sequence[Node], Shape], tuple[nn.Sequential, Shape]]
    init: str | None = None  # model.init: the scheme of layers that name none


@dataclass
class Built:
    module: nn.Module
    shape: Shape  # the output shape, per sample
    flops: int | None = None  # forward FLOPs when the type's `flops` cannot tell (a merge)
    # modules inside it owned by a spec path of their own (an input's embeddings)
    owners: dict[nn.Module, str] | None = None


@dataclass
class Row:
    """One line of the summary: a layer of the spec after `repeat` is expanded."""

    path: str
    type: str
    output_shape: Shape
    params: int  # its own: a residual's layers have their own rows
    flops: int  # forward, per sample


def shape_error(path: str, layer: str, got: Shape, expected: str) -> SpecError:
    return SpecError(
        f"{path}: {layer} cannot take input of shape {fmt(got)} (per sample); "
        f"it expects {expected}. Add a flatten/reshape layer before it or change its arguments.",
        path=path,
    )


def fmt(shape: Shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


# ----------------------------------------------------------------------------- the type
@dataclass(frozen=True)
class LayerType:
    """Everything about one layer type (see the module's docstring to add one)."""

    args: type[Args]  # its arguments, as written in the spec
    # The module and its output shape from (node, input shape, context); a SpecError
    # naming the node's path and both shapes when the input does not fit.
    build: Callable[[Node, Shape, Context], Built]
    flops: Callable[[Any, Shape, Shape], int]  # forward, per sample: (args, in, out shape)
    # What it keeps for backward: (args, input shape, output shape, bytes per element).
    saves: Callable[[Any, Shape, Shape, int], Saved]
    # Backward FLOPs per sample: (forward FLOPs, has weights, its input needs a gradient).
    backward: Callable[[int, bool, bool], int] = weight_and_input_grads
    input_bytes: int | None = None  # per input element as the first layer (token ids: 8)
    blocks: Callable[[Any], list[Block]] = no_blocks  # the layer lists inside a container
    # A summary row of its own (after the rows of the layers inside, with the parameters
    # that are not theirs); repeat has none: the rows of its copies stand for it.
    row: bool = True
    # Registered from Python (deepnet.nn.custom): its activations are not modelled, and
    # the memory estimate says it excludes them.
    custom: bool = False
    # Made by the builder, never written in a spec (the front of several inputs).
    internal: bool = False
