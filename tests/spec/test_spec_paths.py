"""deepnet.spec.paths: the one implementation of spec paths that `--set`, diagnose
remedies and tune trials share: parse, format, get, set (making mappings, expanding a
scalar main argument) and apply, with errors that carry the path."""

import copy

import pytest

from deepnet.core.errors import SpecError
from deepnet.diagnose import apply_changes as remedy
from deepnet.spec import Spec, paths
from deepnet.tune.space import apply_values

RAW = {"data": {"source": "digits"},
       "model": {"layers": [{"flatten": {}}, {"dropout": 0.3},
                            {"repeat": {"times": 2, "layers": [{"dense": 16}]}},
                            {"dense": {"units": 10}}]},
       "train": {"optimizer": "sgd", "batch_size": 32, "loss": None}}


@pytest.fixture
def raw():
    return copy.deepcopy(RAW)


@pytest.mark.parametrize("text, parts", [
    ("model.layers[0].dense.units", ["model", "layers", 0, "dense", "units"]),
    ("a[1][2].b", ["a", 1, 2, "b"]),
    ("model.layers[-1]", ["model", "layers", -1]),
    ("seed", ["seed"]),
])
def test_parse_and_format_round_trip(text, parts):
    assert paths.parse_path(text) == parts
    assert paths.format_path(parts) == text


@pytest.mark.parametrize("text", ["model..x", "a.b[x]", "a[1", ".a", "a b", "1a"])
def test_invalid_paths_are_spec_errors_with_the_path(text):
    with pytest.raises(SpecError, match="invalid spec path") as e:
        paths.parse_path(text)
    assert e.value.path == text


def test_get_follows_keys_and_indices(raw):
    assert paths.get_path(raw, "model.layers[2].repeat.layers[0].dense") == 16
    assert paths.get_path(raw, ["model", "layers", -1, "dense", "units"]) == 10
    assert paths.get_path(raw, "train.optimizer") == "sgd"


@pytest.mark.parametrize("path, where, words", [
    ("model.layers[9].dense", "model.layers[9]", ["index out of range", "has 4 items"]),
    ("model.layers[0].dense.units", "model.layers[0].dense", ["is a flatten layer"]),
    ("train.loss.name", "train.loss.name", ["train.loss is null"]),
    ("train.batch_size.x", "train.batch_size.x", ["train.batch_size is the value 32"]),
    ("model.layers.x", "model.layers.x", ["model.layers is a list", "model.layers[0]"]),
    ("train.optimzer", "train.optimzer", ["did you mean 'optimizer'", "keys there"]),
    ("train.batch_size[0]", "train.batch_size[0]", ["train.batch_size is not a list"]),
])
def test_get_says_where_and_why_a_path_stops(raw, path, where, words):
    with pytest.raises(SpecError) as e:
        paths.get_path(raw, path, Spec)
    assert e.value.path == where
    assert str(e.value).startswith(f"{where} does not exist")
    for word in words:
        assert word in str(e.value)


def test_items_are_named_by_their_registry(raw):
    raw["robust"] = {"attacks": [{"pgd": {"eps": 0.1}}]}
    with pytest.raises(SpecError, match=r"robust\.attacks\[0\] is a pgd attack"):
        paths.get_path(raw, "robust.attacks[0].fgsm.eps", Spec)


def test_set_makes_mappings_and_expands_scalar_main_arguments(raw):
    paths.set_path(raw, "model.layers[1].dropout.rate", 0.5, Spec)  # `dropout: 0.3`
    assert raw["model"]["layers"][1] == {"dropout": {"rate": 0.5}}
    paths.set_path(raw, "train.optimizer.lr", 0.1, Spec)  # `optimizer: sgd`
    assert raw["train"]["optimizer"] == {"name": "sgd", "lr": 0.1}
    paths.set_path(raw, "model.layers[2].repeat.layers[0].dense.activation", "relu", Spec)
    assert raw["model"]["layers"][2]["repeat"]["layers"][0] == {
        "dense": {"units": 16, "activation": "relu"}}
    paths.set_path(raw, "train.loss.label_smoothing", 0.1, Spec)  # null becomes a mapping
    paths.set_path(raw, "robust.defense.distillation.temperature", 30, Spec)  # none of it there
    assert raw["train"]["loss"] == {"label_smoothing": 0.1}
    assert raw["robust"] == {"defense": {"distillation": {"temperature": 30}}}
    paths.set_path(raw, "model.layers[-1]", {"dense": 7})
    assert raw["model"]["layers"][3] == {"dense": 7}
    Spec.from_dict({**raw, "train": {**raw["train"], "loss": "cross_entropy"}})  # still valid


@pytest.mark.parametrize("path, value, where, word", [
    ("train.batch_size.x", 1, "train.batch_size", "is the value 32, not a mapping"),
    ("model.layers[4].dense", 1, "model.layers[4]", "index out of range"),
    ("model.layers.units", 1, "model.layers.units", "is a list"),
])
def test_set_errors_carry_the_path(raw, path, value, where, word):
    before = copy.deepcopy(raw)
    with pytest.raises(SpecError) as e:
        paths.apply_changes(raw, {path: value}, Spec)
    assert e.value.path == where and word in str(e.value)
    assert raw == before  # apply_changes works on a copy


def test_apply_copies_and_sets_in_order(raw):
    value = {"dense": {"units": 5}}
    out = paths.apply_changes(raw, {"model.layers[0]": value, "model.layers[0].dense.units": 6})
    assert out["model"]["layers"][0] == {"dense": {"units": 6}}
    assert value == {"dense": {"units": 5}} and raw == RAW  # nothing given was changed


def test_parse_override_reads_the_value_as_yaml():
    assert paths.parse_override("train.optimizer={name: sgd, lr: 0.1}") == (
        "train.optimizer", {"name": "sgd", "lr": 0.1})
    assert paths.parse_override(" seed =7") == ("seed", 7)
    with pytest.raises(SpecError, match="expected key=value"):
        paths.parse_override("seed")
    with pytest.raises(SpecError, match="invalid spec path"):
        paths.parse_override("a..b=1")


def test_set_remedy_and_tune_give_the_same_spec(raw):
    """The three users of spec paths: one implementation, one result."""
    raw["train"]["loss"] = "cross_entropy"
    changes = {"model.layers[1].dropout.rate": 0.4, "train.optimizer.lr": 0.05,
               "train.early_stopping": None, "model.layers[0]": {"flatten": {}}}
    by_set = Spec.from_dict(raw, ["model.layers[1].dropout.rate=0.4",
                                  "train.optimizer.lr=0.05", "train.early_stopping=null",
                                  "model.layers[0]={flatten: {}}"])
    by_tune = apply_values(raw, changes)
    by_remedy = remedy(Spec.from_dict(raw), changes)
    assert by_set == by_tune == by_remedy
    assert by_set.model.layers[1].dropout.rate == 0.4 and by_set.train.optimizer.lr == 0.05
    assert by_set.train.optimizer.name == "sgd" and by_set.train.early_stopping is None
    assert raw == {**RAW, "train": {**RAW["train"], "loss": "cross_entropy"}}  # not changed


def test_path_errors_name_their_origin(raw):
    with pytest.raises(SpecError, match=r"^--set model\.layers\[7\]\.dense\.units=3: "
                                        r"model\.layers\[7\] does not exist") as e:
        Spec.from_dict(raw, ["model.layers[7].dense.units=3"])
    assert e.value.path == "model.layers[7]"
    with pytest.raises(SpecError, match=r"^tune trial: model\.layers\[7\]"):
        apply_values(raw, {"model.layers[7].dense.units": 3})
