"""tune.space validation: schema keys with the spec, existing paths and bounds before any
trial; sampling and applying values the way --set does."""

import json

import pytest
import yaml

from deepnet.cli import main
from deepnet.core.errors import SpecError
from deepnet.spec import Spec
from deepnet.tune.space import apply_values, check_space, decode, label, suggest


def _write(tmp_path, spec):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return str(path)


def _tune_err(tmp_path, capsys, spec, *extra):
    code = main(["tune", _write(tmp_path, spec), "--out", str(tmp_path / "t"), *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err and err.count("error:") == 1
    assert not (tmp_path / "t" / "trial-0").exists()  # no trial ran
    return err


def test_unknown_key_is_a_spec_error_naming_the_path(tmp_path, capsys, tune_spec_dict):
    tune_spec_dict["tune"]["space"]["train.optimizer.lrr"] = {"loguniform": [0.001, 0.1]}
    tune_spec_dict["tune"]["space"]["model.layers[0].conv3d.filters"] = {"int": [1, 4]}
    err = _tune_err(tmp_path, capsys, tune_spec_dict)
    assert "'train.optimizer.lrr': unknown key 'lrr'" in err and "did you mean 'lr'" in err
    assert "unknown layer type 'conv3d'" in err
    # the same spec is refused by every command: the space is part of the spec
    with pytest.raises(SpecError, match="lrr"):
        Spec.from_dict(tune_spec_dict)


def test_paths_missing_from_this_spec_all_reported(tmp_path, capsys, tune_spec_dict):
    space = tune_spec_dict["tune"]["space"]
    space["model.layers[9].dense.units"] = {"int": [8, 64]}  # no such layer
    space["model.layers[0].dense.units"] = {"int": [8, 64]}  # layer 0 is flatten
    space["train.loss.label_smoothing"] = {"uniform": [0.0, 0.2]}  # train.loss is null
    space["model.layers[2].dropout.rate"] = {"uniform": [0.0, 1.5]}  # rate must be < 1
    err = _tune_err(tmp_path, capsys, tune_spec_dict)
    assert "4 problems in tune.space" in err
    assert "tune.space['model.layers[9].dense.units']: model.layers[9] does not exist" in err
    assert "has 4 items" in err
    assert "tune.space['model.layers[0].dense.units']" in err and "flatten layer" in err
    assert "tune.space['train.loss.label_smoothing']" in err and "train.loss is null" in err
    assert "tune.space['model.layers[2].dropout.rate']: the value 1.5 is refused" in err


@pytest.mark.parametrize("dist, message", [
    ({"normal": [0, 1]}, "unknown distribution 'normal'"),
    ([0.001, 0.1], "a distribution is a mapping"),
    ({"uniform": [0.5, 0.1]}, "needs low < high"),
    ({"loguniform": [0.0, 0.1]}, "greater than 0"),
    ({"uniform": [0.1, 0.5], "log": True}, "log: true goes with int"),
    ({"int": [0, 8], "log": True}, "low >= 1"),
    ({"choice": []}, "at least 1 item"),
    ({"loguniform": [0.001, 0.1], "choice": [1, 2]}, "exactly one of"),
])
def test_bad_distributions(tmp_path, capsys, tune_spec_dict, dist, message):
    tune_spec_dict["tune"]["space"]["train.optimizer.lr"] = dist
    err = _tune_err(tmp_path, capsys, tune_spec_dict)
    assert "tune.space.train.optimizer.lr" in err and message in err


def test_other_tune_keys_checked(tmp_path, capsys, tune_spec_dict):
    tune_spec_dict["tune"]["memory_budget"] = "2 parsecs"
    tune_spec_dict["tune"]["pruner"] = "hyperbole"
    err = _tune_err(tmp_path, capsys, tune_spec_dict)
    assert "tune.memory_budget" in err and "tune.pruner.name" in err
    del tune_spec_dict["tune"]
    assert "no tune section" in _tune_err(tmp_path, capsys, tune_spec_dict)
    tune_spec_dict["tune"] = {"space": {}}
    assert "no tune.space" in _tune_err(tmp_path, capsys, tune_spec_dict)
    tune_spec_dict["tune"] = {"metric": "r2", "space": {"train.l1": {"uniform": [0, 0.1]}}}
    assert "tune.metric: 'r2' is not logged" in _tune_err(tmp_path, capsys, tune_spec_dict)


def test_bad_arguments_exit_2(tmp_path, capsys, tune_spec_dict):
    for args in (["--trials", "0"], ["--workers", "0"], ["--timeout", "-1"]):
        assert "must be a positive" in _tune_err(tmp_path, capsys, tune_spec_dict, *args)


def test_suggest_and_apply_like_set(tune_spec_dict):
    import optuna

    layers_a = [{"flatten": {}}, {"dense": 16}, {"dense": 10}]
    layers_b = [{"flatten": {}}, {"dense": {"units": 64, "activation": "tanh"}},
                {"dense": 10}]
    tune_spec_dict["tune"]["space"] = {
        "model.layers": {"choice": [layers_a, layers_b]},
        "train.batch_size": {"int": [16, 128], "log": True},
        "train.early_stopping": {"choice": [None, {"monitor": "val_accuracy"}]},
    }
    spec = Spec.from_dict(tune_spec_dict)
    check_space(spec)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(8):
        trial = study.ask()
        values = {p: suggest(trial, p, d) for p, d in spec.tune.space.items()}
        assert values["model.layers"] in (layers_a, layers_b)
        assert 16 <= values["train.batch_size"] <= 128
        assert decode(trial.params, spec.tune.space) == values
        s = apply_values(spec.to_dict(), values)
        assert s.train.batch_size == values["train.batch_size"]
        assert len(s.model.layers) == 3
        es = values["train.early_stopping"]
        assert (s.train.early_stopping is None) == (es is None)
        seen.add(json.dumps(values["model.layers"]))
        study.tell(trial, 0.0)
    assert len(seen) == 2
    assert label(layers_a) == json.dumps(layers_a, sort_keys=True) and label("adam") == "adam"
    # a layer given as a scalar main argument is expanded, as with --set
    s = apply_values(spec.to_dict() | {"model": {"layers": [{"flatten": {}}, {"dropout": 0.1},
                                                            {"dense": 10}]}},
                     {"model.layers[1].dropout.rate": 0.4})
    assert s.model.layers[1].model_dump()["dropout"]["rate"] == 0.4
