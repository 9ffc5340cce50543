"""The checks that need the data run in one pass before a run directory exists: one
error lists every problem, with its path (deepnet.app.train.check_against_data)."""

import pytest

import deepnet
from deepnet.app.train import check_against_data
from deepnet.core.errors import DataError, SpecError
from deepnet.data.prepare import prepare
from deepnet.spec import Spec


def _check(**sections):
    spec = Spec.from_dict({"data": {"source": "iris"}, "model": {"layers": [{"dense": 3}]}}
                          | sections)
    return check_against_data(spec, prepare(spec))


def test_every_problem_with_the_data_at_once(tmp_path):
    sections = {"model": {"layers": [{"dense": 4}]},
                "train": {"metrics": ["accuracy", "r2"], "loss": "binary_cross_entropy",
                          "early_stopping": "val_f1"},
                "robust": {"defense": {"distillation": 10, "input_transform": {"smoothing": 3}}}}
    with pytest.raises(SpecError) as e:
        _check(**sections)
    lines = str(e.value).splitlines()
    assert lines[0] == "5 problems in the spec for the data 'iris':"
    assert [line.split(":")[0].strip() for line in lines[1:]] == [
        "train.metrics[1]", "train.early_stopping.monitor", "model.layers[-1]",
        "robust.defense.input_transform.smoothing", "robust.defense.distillation"]
    assert "r2 is a regression metric, but the task is classification" in lines[1]
    assert "iris has 3 classes; make the last layer `dense: {units: 1}`" in lines[3]
    # train() refuses it the same way, before making the run directory
    spec = Spec.from_dict({"data": {"source": "iris"}, "model": {"layers": [{"dense": 3}]}}
                          | sections)
    with pytest.raises(SpecError, match="5 problems"):
        deepnet.train(spec, out=tmp_path / "run", quiet=True)
    assert not (tmp_path / "run").exists()


def test_a_first_layer_the_data_do_not_fit_is_a_data_error_by_its_path():
    with pytest.raises(DataError) as e:
        _check(model={"layers": [{"repeat": {"times": 2, "layers": [{"conv2d": 4}]}},
                                 {"flatten": {}}, {"dense": 3}]})
    assert e.value.path == "model.layers[0].repeat[0].layers[0]"
    assert "iris: the data have samples of shape (4,), which the model's first layer " \
           "cannot take: model.layers[0].repeat[0].layers[0]: conv2d" in str(e.value)


def test_a_later_layer_stays_a_spec_error_beside_the_others():
    with pytest.raises(SpecError) as e:
        _check(model={"layers": [{"dense": 4}, {"conv2d": 3}]}, train={"metrics": ["mae"]})
    assert not isinstance(e.value, DataError)
    assert "2 problems" in str(e.value)
    assert "\n  model.layers[1]: conv2d cannot take input of shape (4,)" in str(e.value)
    assert "\n  train.metrics[0]: mae is a regression metric" in str(e.value)


def test_the_resolved_spec_and_model_when_all_fits():
    spec, model = _check(train={"early_stopping": "val_f1"})
    assert spec.task == "classification" and spec.train.loss.name == "cross_entropy"
    assert spec.train.metrics == ["accuracy", "f1"]
    assert sum(p.numel() for p in model.parameters()) == 4 * 3 + 3
