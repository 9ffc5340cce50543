"""The one walk over the layer tree (deepnet.nn.tree) and the spec paths the builder
records on the model it builds (Network.spec_paths), which the diagnosis reads."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch

import deepnet
from deepnet.core.registry import Registry
from deepnet.nn.build import Network, build_model, spec_path
from deepnet.nn.layer_type import LayerType
from deepnet.nn.layers import LAYERS
from deepnet.nn.tree import layer_tree, spec_items, walk

NESTED = [
    {"dense": 4},
    {"repeat": {"times": 2, "layers": [
        {"residual": [{"dense": {"units": 4, "activation": "relu"}}, {"layernorm": {}}]},
        {"repeat": {"times": 3, "layers": [{"dense": 4}]}},
    ]}},
    {"residual": [{"repeat": {"times": 2, "layers": [{"dense": 4}]}}]},
    {"dense": 2},
]


def _layers(items: list[dict[str, Any]]):
    return deepnet.Spec.from_dict({"data": {"source": "digits"},
                                   "model": {"layers": items}}).model.layers


def test_layers_is_a_registry_of_layer_types():
    assert isinstance(LAYERS, Registry)
    assert all(isinstance(t, LayerType) for t in LAYERS.values())
    with pytest.raises(ValueError, match=r"unknown layer type 'dens' \(did you mean 'dense'\?\)"):
        LAYERS.get("dens")


def test_the_tree_gives_every_copy_its_path_and_its_spec_item():
    nodes = list(walk(layer_tree(_layers(NESTED))))
    assert [n.path for n in nodes[:6]] == [
        "model.layers[0]",
        "model.layers[1]",
        "model.layers[1].repeat[0].layers[0]",
        "model.layers[1].repeat[0].layers[0].residual.layers[0]",
        "model.layers[1].repeat[0].layers[0].residual.layers[1]",
        "model.layers[1].repeat[0].layers[1]",
    ]
    # 1 + repeat (1 + 2 x (residual 3 + repeat 1 + 3)) + residual (1 + repeat 1 + 2) + 1
    assert len(nodes) == 1 + 1 + 2 * 7 + 4 + 1
    copy_ = next(n for n in nodes
                 if n.path == "model.layers[1].repeat[1].layers[1].repeat[2].layers[0]")
    assert copy_.item_path == "model.layers[1].repeat.layers[1].repeat.layers[0]"
    assert copy_.type == "dense" and copy_.args.units == 4
    assert len({n.path for n in nodes}) == len(nodes)
    assert all(n.item_path == n.path for n in nodes if ".repeat[" not in n.path)


def test_spec_items_name_each_item_once_in_spec_order():
    items = spec_items(layer_tree(_layers(NESTED)))
    assert [n.item_path for n in items] == [
        "model.layers[0]",
        "model.layers[1]",
        "model.layers[1].repeat.layers[0]",
        "model.layers[1].repeat.layers[0].residual.layers[0]",
        "model.layers[1].repeat.layers[0].residual.layers[1]",
        "model.layers[1].repeat.layers[1]",
        "model.layers[1].repeat.layers[1].repeat.layers[0]",
        "model.layers[2]",
        "model.layers[2].residual.layers[0]",
        "model.layers[2].residual.layers[0].repeat.layers[0]",
        "model.layers[3]",
    ]


def _inner_first(nodes):
    """The nodes in the order of the summary rows: a node after the layers inside it."""
    for node in nodes:
        for block in node.blocks:
            yield from _inner_first(block)
        yield node


def test_the_rows_follow_the_tree_a_container_after_its_layers():
    layers = _layers(NESTED)
    _, rows = build_model(layers, (4,))
    expected = [n for n in _inner_first(layer_tree(layers)) if LAYERS[n.type].row]
    assert [(r.path, r.type) for r in rows] == [(n.path, n.type) for n in expected]
    assert "repeat" not in {r.type for r in rows}


def test_the_model_records_the_spec_path_of_every_module_and_parameter():
    layers = _layers(NESTED)
    model, rows = build_model(layers, (4,))
    assert isinstance(model, Network) and isinstance(model, torch.nn.Sequential)
    modules = dict(model.named_modules())
    assert set(model.spec_paths) <= set(modules)
    # one module per layer of the tree, containers included
    by_path = {path: name for name, path in model.spec_paths.items()}
    assert set(by_path) == {n.path for n in walk(layer_tree(layers))}
    assert len(by_path) == len(model.spec_paths)
    assert by_path["model.layers[1].repeat[1].layers[1].repeat[2].layers[0]"] == "1.1.1.2.0"
    assert by_path["model.layers[2].residual.layers[0].repeat[1].layers[0]"] == "2.body.0.1.0"
    # every parameter belongs to the row that counts it
    owned: dict[str, int] = {}
    for name, p in model.named_parameters():
        owned[model.spec_path(name)] = owned.get(model.spec_path(name), 0) + p.numel()
    assert owned == {r.path: r.params for r in rows if r.params}
    assert model.spec_path("1.0.0.body.1.weight") == \
        "model.layers[1].repeat[0].layers[0].residual.layers[1]"
    assert model.spec_path("1.0.0.body") == "model.layers[1].repeat[0].layers[0]"
    assert model.spec_path("9.weight") is None
    assert spec_path(model, "3.op.weight") == "model.layers[3]"
    # a model not built from the spec's layers (an ensemble's average) names no layers
    assert spec_path(torch.nn.Sequential(model), "0.3.op.weight") is None


def test_the_recorded_paths_survive_a_copy_and_leave_the_weights_alone():
    layers = _layers(NESTED)
    model, _ = build_model(layers, (4,))
    again = copy.deepcopy(model)
    assert again.spec_paths == model.spec_paths
    plain = torch.nn.Sequential(*copy.deepcopy(list(model)))
    assert plain.state_dict().keys() == model.state_dict().keys()  # checkpoints unchanged
    out = model(torch.randn(3, 4))
    assert out.shape == (3, 2) and torch.isfinite(out).all()
