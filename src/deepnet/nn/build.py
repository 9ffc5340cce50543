"""spec.model -> torch.nn.Module, with shape inference and seeded initialisation. The
built Network records the spec path of each of its modules, and the builder returns the
summary rows."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from pydantic import BaseModel
from torch import nn

from deepnet.nn.layer_type import Context, Node, Row, Shape
from deepnet.nn.layers import LAYERS
from deepnet.nn.tree import model_tree


class Network(nn.Sequential):
    """The built model: an nn.Sequential whose module `i` is `model.layers[i]`, and that
    records the spec layer each of its modules was built for (`spec_paths`)."""

    def __init__(self, *modules: nn.Module):
        super().__init__(*modules)
        # module name -> spec path of its layer, for every layer (nested ones included):
        # {"3": "model.layers[3]", "3.1.0": "model.layers[3].repeat[1].layers[0]"}
        self.spec_paths: dict[str, str] = {}

    def spec_path(self, name: str) -> str | None:
        """The spec path of the innermost layer that owns parameter or module `name`
        ("3.1.0.op.weight" -> "model.layers[3].repeat[1].layers[0]"); None for none."""
        parts = name.split(".")
        for k in range(len(parts), 0, -1):
            found = self.spec_paths.get(".".join(parts[:k]))
            if found is not None:
                return found
        return None


def spec_path(model: nn.Module, name: str) -> str | None:
    """The spec path of the layer that owns parameter or module `name` of `model`; None
    when no layer does, or when `model` was not built from a spec's layers (an ensemble's
    average of networks, a module of one's own)."""
    return model.spec_path(name) if isinstance(model, Network) else None


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def build_model(
    layers: Sequence[BaseModel], input_shape: Shape, seed: int = 0, front=None,
    init: str | None = None,
) -> tuple[Network, list[Row]]:
    """The network for `layers` (validated spec items) on per-sample `input_shape`,
    behind `front` (deepnet.nn.inputs.Front: embeddings, several inputs) when given.

    Every weight comes from a generator seeded with `seed`, so the same spec and seed
    give the same network whatever the global RNG state. Returns the module and one
    summary row per layer (after `repeat` is expanded; a residual's row, the skip
    addition, after its layers' rows). Raises SpecError naming the layer's path and both
    shapes when a layer does not fit its input.
    """
    rows: list[Row] = []
    owners: dict[nn.Module, str] = {}  # each layer's module -> its spec path

    def build(nodes: Sequence[Node], shape: Shape) -> tuple[nn.Sequential, Shape]:
        modules = []
        for node in nodes:
            kind, first = LAYERS[node.type], len(rows)
            built = kind.build(node, shape, ctx)
            owners[built.module] = node.path
            owners.update(built.owners or {})
            if kind.row:
                inner = sum(r.params for r in rows[first:])  # the layers inside have rows
                flops = (kind.flops(node.args, shape, built.shape) if built.flops is None
                         else built.flops)
                rows.append(Row(node.path, node.type, built.shape,
                                _count(built.module) - inner, flops))
            modules.append(built.module)
            shape = built.shape
        return nn.Sequential(*modules), shape

    ctx = Context(torch.Generator().manual_seed(seed), build, init)
    top, _ = build(model_tree(layers, front), tuple(input_shape))
    model = Network(*top)
    model.spec_paths = {name: owners[m] for name, m in model.named_modules() if m in owners}
    return model, rows
