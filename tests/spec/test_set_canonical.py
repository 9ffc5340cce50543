"""`--set` follows the canonical form (issue 22, item 9): after a shorthand (`residual:
[...]`, `model: [...]`, `dense: 8`, `early_stopping: val_loss`, `data: digits`), every
path of the spec as deepnet writes it (spec.yaml, `summary --json`) can be set."""

import pytest

import deepnet
from deepnet.cli import main

SHORTHANDS = {
    "name": "t", "data": "digits",
    "model": [{"flatten": {}}, {"dense": 8}, {"dropout": 0.1},
              {"residual": [{"dense": 8}, {"dense": {"units": 8, "activation": "relu"}}]},
              {"repeat": {"times": 2, "layers": [{"dense": 8}]}}, {"dense": 10}],
    "train": {"epochs": 1, "early_stopping": "val_loss", "schedule": "onecycle"},
}


def _leaves(node, path=""):
    if isinstance(node, dict) and node:
        for k, v in node.items():
            yield from _leaves(v, f"{path}.{k}" if path else k)
    elif isinstance(node, list) and node:
        for i, v in enumerate(node):
            yield from _leaves(v, f"{path}[{i}]")
    else:
        yield path, node


def test_every_canonical_path_can_be_set_on_the_shorthand_spec():
    canonical = deepnet.Spec.from_dict(SHORTHANDS).to_dict()
    paths = dict(_leaves(canonical))
    assert "model.layers[3].residual.layers[1].dense.units" in paths
    assert "train.early_stopping.patience" in paths and "data.split.val" in paths
    for path, value in paths.items():
        again = deepnet.Spec.from_dict(SHORTHANDS, changes={path: value}).to_dict()
        assert again == canonical, path


def test_the_issue_s_path_through_a_residual_shorthand_from_the_command_line(tmp_path,
                                                                            capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text("name: t\ndata: digits\nmodel:\n  - flatten: {}\n  - dense: 8\n"
                    "  - residual: [{dense: 8}, {dense: 8}]\n  - dense: 10\n")
    assert main(["summary", str(spec), "--json", "--set",
                 "model.layers[2].residual.layers[1].dense.activation=relu"]) == 0
    capsys.readouterr()
    with pytest.raises(deepnet.SpecError, match=r"model.layers\[0\].flatten is the value"):
        deepnet.Spec.from_dict({"name": "t", "data": "digits",
                                "model": [{"flatten": 3}, {"dense": 10}]},
                               ["model.layers[0].flatten.x.y=1"])
