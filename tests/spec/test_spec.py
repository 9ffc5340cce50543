from pathlib import Path

import pytest
import yaml

from deepnet import Spec, SpecError
from deepnet.spec import parse_path

EXAMPLE = "examples/digits.yaml"


def test_example_loads_and_round_trips(tmp_path):
    spec = Spec.from_yaml(EXAMPLE)
    assert spec.name == "digits-cnn"
    assert spec.train.optimizer.name == "adam"
    out = tmp_path / "spec.yaml"
    spec.to_yaml(out)
    again = Spec.from_yaml(out)
    assert again == spec
    # every default is filled in
    raw = yaml.safe_load(out.read_text())
    assert raw["train"]["early_stopping"]["patience"] == 5
    assert raw["model"]["layers"][6] == {"dropout": {"rate": 0.3}}


def test_scalar_main_arguments(mlp_spec_dict):
    mlp_spec_dict["model"]["layers"] = [{"reshape": [8, 8]}, {"lstm": 16}, {"dropout": 0.2},
                                        {"dense": 10}]
    mlp_spec_dict["train"]["optimizer"] = "sgd"
    spec = Spec.from_dict(mlp_spec_dict)
    assert spec.model.layers[0].reshape.shape == [8, 8]
    assert spec.model.layers[1].lstm.units == 16
    assert spec.model.layers[2].dropout.rate == 0.2
    assert spec.train.optimizer.name == "sgd" and spec.train.optimizer.lr == 1e-3


def test_overrides_dotted_paths_with_indices():
    spec = Spec.from_yaml(EXAMPLE, [
        "model.layers[5].dense.units=64",
        "train.optimizer.lr=0.01",
        "train.early_stopping=null",
        "robust.defense={adversarial_training: {eps: 0.1}}",
        "model.layers[6].dropout.rate=0.5",  # the spec writes `dropout: 0.3`
        "seed=7",
    ])
    assert spec.model.layers[5].dense.units == 64
    assert spec.train.optimizer.lr == 0.01
    assert spec.train.early_stopping is None
    assert spec.robust.defense.adversarial_training.eps == 0.1
    assert spec.model.layers[6].dropout.rate == 0.5
    assert spec.seed == 7


@pytest.mark.parametrize("override, fragment", [
    ("train.optimizer.lr", "expected key=value"),
    ("model.layers[99].dense.units=3", "index out of range"),
    ("model..x=1", "invalid spec path"),
    ("train.optimizer.lr=[1", "invalid YAML"),
    ("train.optimizer.lr=-1", "train.optimizer.lr"),
    ("train.optimzer.lr=0.1", "did you mean 'optimizer'"),
])
def test_bad_overrides(override, fragment):
    with pytest.raises(SpecError, match=None) as e:
        Spec.from_yaml(EXAMPLE, [override])
    assert fragment in str(e.value)


def test_every_problem_reported_at_once(mlp_spec_dict):
    mlp_spec_dict["model"]["layers"] = [
        {"flatten": {}},
        {"dense": {"units": -3, "activaton": "relu"}},
        {"convolution": {"filters": 3}},
    ]
    mlp_spec_dict["train"]["batch_size"] = "big"
    with pytest.raises(SpecError) as e:
        Spec.from_dict(mlp_spec_dict)
    msg = str(e.value)
    assert "4 problems" in msg
    assert "model.layers[1].dense.units: input should be greater than 0; got -3" in msg
    assert "model.layers[1].dense.activaton: unknown key 'activaton' (did you mean 'activation'?)" in msg
    assert "model.layers[2]: unknown layer type 'convolution'" in msg
    assert "valid: dense, conv1d" in msg
    assert "train.batch_size" in msg


def test_nested_layer_errors_have_paths(mlp_spec_dict):
    mlp_spec_dict["model"]["layers"] = [
        {"repeat": {"times": 2, "layers": [{"dense": {"units": 0}}]}},
    ]
    with pytest.raises(SpecError, match=r"model\.layers\[0\]\.repeat\.layers\[0\]\.dense\.units"):
        Spec.from_dict(mlp_spec_dict)


def test_unknown_top_level_and_section_keys(mlp_spec_dict):
    mlp_spec_dict["trian"] = {}
    mlp_spec_dict["data"]["normalise"] = "standard"
    with pytest.raises(SpecError) as e:
        Spec.from_dict(mlp_spec_dict)
    assert "trian: unknown key 'trian' (did you mean 'train'?)" in str(e.value)
    assert "data.normalise: unknown key 'normalise' (did you mean 'normalize'?)" in str(e.value)


def test_yaml_and_file_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmodel: [\n")
    with pytest.raises(SpecError, match="invalid YAML at line"):
        Spec.from_yaml(bad)
    with pytest.raises(SpecError, match="not found"):
        Spec.from_yaml(tmp_path / "missing.yaml")
    bad.write_text("- just a list\n")
    with pytest.raises(SpecError, match="a spec is a mapping"):
        Spec.from_yaml(bad)


def test_parse_path():
    assert parse_path("model.layers[0].dense.units") == ["model", "layers", 0, "dense", "units"]
    assert parse_path("a[1][2].b") == ["a", 1, 2, "b"]


def test_augment_items(mlp_spec_dict):
    mlp_spec_dict["data"]["augment"] = [{"rotate": 10}, {"scale": [0.9, 1.1]}, {"noise": 0.05}]
    spec = Spec.from_dict(mlp_spec_dict)
    assert [a.kind for a in spec.data.augment] == ["rotate", "scale", "noise"]
    assert spec.to_dict()["data"]["augment"][1] == {"scale": [0.9, 1.1]}
    mlp_spec_dict["data"]["augment"] = [{"rotate": 10, "noise": 0.1}]
    with pytest.raises(SpecError, match=r"data\.augment\[0\]"):
        Spec.from_dict(mlp_spec_dict)


@pytest.mark.parametrize("example", sorted(Path("examples").glob("*.yaml")), ids=str)
def test_to_yaml_writes_what_pyyamls_safe_dump_writes(example):
    """to_yaml uses libyaml's dumper (4x faster): for every example the text is
    yaml.safe_dump's (the two fold long double-quoted strings differently)."""
    spec = Spec.from_yaml(example)
    assert spec.to_yaml() == yaml.safe_dump(spec.to_dict(), sort_keys=False)
