"""Containers of layers: residual (its layers plus a skip connection) and repeat (its
layers `times` times over). Their layers are laid out by `blocks`, which the tree walk
(deepnet.nn.tree) reads; their builders build those blocks through the context."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from torch import nn

from deepnet.core.errors import SpecError
from deepnet.core.schema import PositiveInt
from deepnet.nn.cost import Saved, keeps_nothing, no_flops, per_element
from deepnet.nn.layer_type import Args, Block, Built, Context, LayerType, Node, Shape, fmt


class ResidualArgs(Args):
    main: ClassVar[str] = "layers"
    # LayerItem: the union of every layer type's item, made (and resolved here with
    # model_rebuild) by deepnet.nn.layers, which imports this module
    layers: list[LayerItem] = Field(min_length=1)  # noqa: F821


class RepeatArgs(Args):
    main: ClassVar[str] = "times"
    times: PositiveInt
    layers: list[LayerItem] = Field(min_length=1)  # noqa: F821


class Residual(nn.Module):
    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x):
        return x + self.body(x)


def _residual(n: Node, s: Shape, ctx: Context) -> Built:
    body, out = ctx.build(n.blocks[0], s)
    if out != s:
        raise SpecError(
            f"{n.path}.residual: the layers inside a residual must keep the shape, "
            f"but they turn {fmt(s)} into {fmt(out)}; make the last one output {fmt(s)}"
        )
    return Built(Residual(body), s)


def _repeat(n: Node, s: Shape, ctx: Context) -> Built:
    copies = []
    for block in n.blocks:
        copy, s = ctx.build(block, s)
        copies.append(copy)
    return Built(nn.Sequential(*copies), s)


TYPES = {
    # Its row is the skip addition; the skip input stays alive while its layers run.
    "residual": LayerType(
        ResidualArgs, _residual, per_element(1), lambda a, s, out, e: Saved(holds_input=True),
        blocks=lambda a: [Block(".residual.layers", ".residual.layers", a.layers)]),
    "repeat": LayerType(
        RepeatArgs, _repeat, no_flops, keeps_nothing, row=False,
        blocks=lambda a: [Block(f".repeat[{r}].layers", ".repeat.layers", a.layers)
                          for r in range(a.times)]),
}
