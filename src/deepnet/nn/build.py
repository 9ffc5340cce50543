"""spec.model -> torch.nn.Module, with shape inference and seeded initialisation."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from pydantic import BaseModel
from torch import nn

from deepnet.nn.layers import LAYERS, Context, Row, Shape, item_parts


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def build_layers(
    items: Sequence[BaseModel], shape: Shape, prefix: str, ctx: Context
) -> tuple[nn.Sequential, Shape]:
    """Build a list of layer items in order; each item's path is `prefix[i]`."""
    modules = []
    for i, item in enumerate(items):
        name, args = item_parts(item)
        path = f"{prefix}[{i}]"
        kind = LAYERS[name]
        built = kind.build(args, shape, path, ctx)
        if name == "residual":  # its own row (the skip addition) follows the inner ones
            ctx.rows.append(Row(path, name, built.shape, 0, built.flops))
        elif not kind.container:
            ctx.rows.append(Row(path, name, built.shape, _count(built.module), built.flops))
        modules.append(built.module)
        shape = built.shape
    return nn.Sequential(*modules), shape


def build_model(
    layers: Sequence[BaseModel], input_shape: Shape, seed: int = 0
) -> tuple[nn.Sequential, list[Row]]:
    """The network for `layers` (validated spec items) on per-sample `input_shape`.

    Every weight comes from a generator seeded with `seed`, so the same spec and seed
    give the same network whatever the global RNG state. Returns the module and one
    summary row per layer (after `repeat` is expanded). Raises SpecError naming the
    layer's path and both shapes when a layer does not fit its input.
    """
    g = torch.Generator().manual_seed(seed)
    ctx = Context(g, build_layers=lambda items, s, p: build_layers(items, s, p, ctx))
    model, _ = build_layers(layers, tuple(input_shape), "model.layers", ctx)
    return model, ctx.rows
