"""The one walk over a spec's layer tree: the layer items, the layers nested in residual
and repeat blocks, and the spec path of each (`model.layers[2].repeat[1].layers[0]` for a
copy, `model.layers[2].repeat.layers[0]` for the item it copies). The builder, the cost
model, the summary and the diagnosis all read the tree it makes; how a container lays
out its blocks is its layer type's `blocks`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from pydantic import BaseModel

from deepnet.nn.layer_type import Node
from deepnet.nn.layers import LAYERS, item_parts

ROOT = "model.layers"
FRONT = "model.inputs"


def layer_tree(items: Sequence[BaseModel], prefix: str = ROOT,
               item_prefix: str | None = None) -> tuple[Node, ...]:
    """The nodes of validated spec layer `items` (`spec.model.layers`), each item's path
    `prefix[i]`, with the layers of residual and repeat blocks inside (repeat expanded)."""
    item_prefix = prefix if item_prefix is None else item_prefix
    nodes = []
    for i, item in enumerate(items):
        name, args = item_parts(item)
        path, item_path = f"{prefix}[{i}]", f"{item_prefix}[{i}]"
        blocks = tuple(layer_tree(b.items, path + b.path, item_path + b.item_path)
                       for b in LAYERS[name].blocks(args))
        nodes.append(Node(name, args, path, item_path, blocks))
    return tuple(nodes)


def model_tree(items: Sequence[BaseModel], front=None) -> tuple[Node, ...]:
    """The nodes of a model: its `front` (deepnet.nn.inputs.Front: the named inputs,
    each input's layers at `model.inputs.<name>[i]`, or the embeddings of a table's
    categorical columns) when it has one, then the layers `items` (`model.layers`)."""
    head = layer_tree(items)
    if front is None:
        return head
    blocks = tuple(layer_tree(b.items, FRONT + b.path, FRONT + b.item_path)
                   for b in LAYERS["inputs"].blocks(front))
    return (Node("inputs", front, FRONT, FRONT, blocks), *head)


def walk(nodes: Iterable[Node]) -> Iterator[Node]:
    """Every node, nested ones included, in spec order: a container before its layers."""
    for node in nodes:
        yield node
        for block in node.blocks:
            yield from walk(block)


def spec_items(nodes: Iterable[Node]) -> list[Node]:
    """One node per spec item (a repeat's layers once, as their first copy), in spec
    order: what a spec path such as `model.layers[2].repeat.layers[0]` can name."""
    seen: dict[str, Node] = {}
    for node in walk(nodes):
        seen.setdefault(node.item_path, node)
    return list(seen.values())
