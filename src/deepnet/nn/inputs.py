"""The front of a network whose features are not one plain vector: categorical columns
looked up in embeddings, and several named inputs, each with its own layers, merged into
the shared head (`model: {inputs: {user: [...], item: [...]}, merge: dot, layers: [...]}`).

The data stay one tensor per sample (N, features), so batching, checkpoints, resume,
DDP and export see a single input; the front takes each input's columns from it by
position (a `Part`), looks its categorical codes up in their embeddings (code 0 is the
reserved index of a category not seen in training), runs the input's layers, and merges.
Which positions belong to which input comes from the data's encoding (deepnet.train.
network.front_of); nn knows positions only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from deepnet.core.errors import SpecError
from deepnet.nn.cost import Saved
from deepnet.nn.layer_type import Args, Block, Built, Context, LayerType, Node, Shape, fmt

ROOT = "model.inputs"


def embedding_dim(categories: int) -> int:
    """The embedding width of a column with `categories` categories when the spec gives
    none: fastai's rule of thumb, min(600, round(1.6 * n ** 0.56))."""
    return int(min(600, round(1.6 * categories ** 0.56)))


@dataclass(frozen=True)
class Embedded:
    """A categorical column looked up in an embedding: its position in the features, the
    rows of its table (categories + the reserved index 0) and the width."""

    column: int
    categories: int
    dim: int


@dataclass(frozen=True)
class Part:
    """One input: the feature positions taken as numbers, and the embedded ones."""

    name: str
    numeric: tuple[int, ...] = ()
    embedded: tuple[Embedded, ...] = ()
    shape: tuple[int, ...] | None = None  # an array's sample shape (an .npz input)

    @property
    def width(self) -> int:
        return len(self.numeric) + sum(e.dim for e in self.embedded)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape its layers take: the array's, or (features,)."""
        return self.shape if self.shape is not None else (self.width,)


@dataclass(frozen=True)
class Front:
    """The front of the network: the parts (from the encoding; empty when only the
    layer tree is wanted), each input's spec layer items, and how outputs are merged."""

    parts: tuple[Part, ...]
    branches: Mapping[str, Sequence[Any]]
    merge: str = "concat"

    def __hash__(self) -> int:
        return hash((self.parts, tuple(self.branches), self.merge))

    @property
    def embedded(self) -> int:
        return sum(len(p.embedded) for p in self.parts)


class PartInput(nn.Module):
    """The features of one input: its numeric positions, then each embedded column."""

    def __init__(self, part: Part, generator: torch.Generator):
        super().__init__()
        self.register_buffer("numeric", torch.tensor(part.numeric, dtype=torch.long),
                             persistent=False)
        self.columns = [e.column for e in part.embedded]
        self.shape = part.shape if part.shape is not None and len(part.shape) > 1 else None
        self.embeddings = nn.ModuleList()
        for e in part.embedded:
            emb = nn.Embedding(e.categories, e.dim)
            nn.init.normal_(emb.weight, std=0.1, generator=generator)
            with torch.no_grad():
                emb.weight[0] = 0  # the unknown category: a neutral vector
            self.embeddings.append(emb)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.shape is not None:  # an array input: its features as its samples' shape
            return x.index_select(1, self.numeric).reshape(len(x), *self.shape)
        out = [x.index_select(1, self.numeric)] if len(self.numeric) else []
        for column, emb in zip(self.columns, self.embeddings, strict=True):
            codes = x[:, column].round().long().clamp(0, emb.num_embeddings - 1)
            out.append(emb(codes))
        return torch.cat(out, dim=1) if len(out) > 1 else out[0]


def _concat(xs: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat(xs, dim=-1) if len(xs) > 1 else xs[0]


def _add(xs: list[torch.Tensor]) -> torch.Tensor:
    out = xs[0]
    for x in xs[1:]:
        out = out + x
    return out


def _multiply(xs: list[torch.Tensor]) -> torch.Tensor:
    out = xs[0]
    for x in xs[1:]:
        out = out * x
    return out


def _dot(xs: list[torch.Tensor]) -> torch.Tensor:
    return (xs[0] * xs[1]).sum(dim=-1, keepdim=True)


@dataclass(frozen=True)
class Merge:
    """One way of merging the inputs' outputs: the function, and the output shape of
    the input shapes (None when they cannot be merged so; `expects` says what can)."""

    fn: Callable[[list[torch.Tensor]], torch.Tensor]
    shape: Callable[[list[Shape]], Shape | None]
    expects: str
    flops: Callable[[list[Shape]], int]
    keeps_inputs: bool = False  # it keeps its inputs for backward (a product)


def _same(shapes: list[Shape]) -> Shape | None:
    return shapes[0] if all(s == shapes[0] for s in shapes) else None


def _concat_shape(shapes: list[Shape]) -> Shape | None:
    lead = {s[:-1] for s in shapes}
    return (*shapes[0][:-1], sum(s[-1] for s in shapes)) if len(lead) == 1 else None


def _elementwise(shapes: list[Shape]) -> int:
    return (len(shapes) - 1) * math.prod(shapes[0])


MERGES: dict[str, Merge] = {
    "concat": Merge(_concat, _concat_shape, "the same shape but the last axis", lambda s: 0),
    "add": Merge(_add, _same, "the same shape", _elementwise),
    "multiply": Merge(_multiply, _same, "the same shape", _elementwise, keeps_inputs=True),
    "dot": Merge(_dot, lambda s: (*s[0][:-1], 1) if len(s) == 2 and _same(s) else None,
                 "two inputs of the same shape", lambda s: 2 * math.prod(s[0]),
                 keeps_inputs=True),
}


class Inputs(nn.Module):
    """Each input's features through its layers, merged."""

    def __init__(self, parts: list[PartInput], branches: nn.ModuleDict, merge: str):
        super().__init__()
        self.parts = nn.ModuleList(parts)
        self.branches = branches
        self.merge = merge
        self._merge = MERGES[merge].fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._merge([branch(part(x)) for part, branch
                            in zip(self.parts, self.branches.values(), strict=True)])


class FrontArgs(Args):
    """Never written in a spec: the builder makes the front from model.inputs."""


def _build(n: Node, s: Shape, ctx: Context) -> Built:
    front: Front = n.args
    n.need_rank(s, (1,), "a table's features, (features,)")
    parts, branches, shapes = [], nn.ModuleDict(), []
    for part, block in zip(front.parts, n.blocks, strict=True):
        module, out = ctx.build(block, part.input_shape)
        parts.append(PartInput(part, ctx.generator))
        branches[part.name] = module
        shapes.append(out)
    merge = MERGES[front.merge]
    out = merge.shape(shapes)
    if out is None:
        got = ", ".join(f"{p.name} {fmt(sh)}" for p, sh in zip(front.parts, shapes, strict=True))
        raise SpecError(f"{ROOT}: merge: {front.merge} takes {merge.expects}; the inputs' "
                        f"layers give {got}: change their last layers, or the merge",
                        path="model.merge")
    owners = {module: f"{n.path}.{part.name}"
              for module, part in zip(parts, front.parts, strict=True)}
    # its own FLOPs are the merge's: the inputs' layers have rows of their own
    return Built(Inputs(parts, branches, front.merge), out, merge.flops(shapes), owners)


def _flops(front: Front, s: Shape, out: Shape) -> int:
    return 0  # the builder states the merge's (Built.flops), which needs the inputs' shapes


def _saves(front: Front, s: Shape, out: Shape, e: int) -> Saved:
    return Saved(extra=8 * front.embedded)  # each embedding keeps its int64 codes


def front_blocks(front: Front) -> list[Block]:
    return [Block(f".{name}", f".{name}", items) for name, items in front.branches.items()]


TYPES = {"inputs": LayerType(FrontArgs, _build, _flops, _saves, blocks=front_blocks,
                             internal=True)}
