"""Planted training faults -> the findings `deepnet diagnose` gives,
plus the pieces they rest on. The overfitting fault is in tests/app/test_auto.py, with --auto."""

import json

import numpy as np
import pytest
import torch

import deepnet
from deepnet.cli import main
from deepnet.diagnose import Finding, apply_changes
from deepnet.diagnose.findings import Facts, layer_items
from deepnet.diagnose.gradients import dead_fractions, detect_dead_units, weight_layers
from factory import digits_spec, kinds

GRADIENT_KINDS = {"vanishing_gradients", "exploding_gradients"}


def check_shape(findings: list[Finding]) -> None:
    for f in findings:
        d = f.to_dict()
        assert set(d) == {"kind", "severity", "evidence", "explanation", "remedy"}
        assert d["severity"] in ("info", "warning", "critical")
        assert set(d["remedy"]) == {"changes", "text"} and d["remedy"]["text"]
        json.dumps(d)  # JSON-safe
        if f.kind != "healthy":
            assert f.evidence and f.remedy.changes, f


def train(spec, tmp_path, name="run"):
    return deepnet.train(spec, out=tmp_path / name, quiet=True)


def test_underfitting_two_hidden_units(tmp_path):
    run = train(digits_spec([{"dense": {"units": 2, "activation": "relu"}}, {"dense": 10}],
                            epochs=15), tmp_path)
    findings = deepnet.diagnose(run)
    check_shape(findings)
    assert "underfitting" in kinds(findings)
    f = next(f for f in findings if f.kind == "underfitting")
    assert f.evidence["final_train_accuracy"] < 0.8
    assert f.remedy.changes["model.layers[1].dense.units"] > 2  # widen the 2-unit layer
    assert "overfitting" not in kinds(findings)


def test_vanishing_gradients_sigmoid_stack_and_not_with_relu_batchnorm(tmp_path):
    sigmoid = [{"dense": {"units": 32, "activation": "sigmoid"}}] * 20 + [{"dense": 10}]
    run = train(digits_spec(sigmoid, epochs=2), tmp_path, "sigmoid")
    findings = deepnet.diagnose(run)
    check_shape(findings)
    assert findings[0].kind == "vanishing_gradients"
    f = findings[0]
    assert f.severity == "critical"
    first = f.evidence["first_layers"]
    assert first[:3] == ["model.layers[1]", "model.layers[2]", "model.layers[3]"]
    assert f.evidence["ratio"] > 1e4
    assert "model.layers[1]" in f.explanation
    assert f.remedy.changes["model.layers[1].dense.activation"] == "relu"

    relu_bn = [{"dense": {"units": 32, "activation": "relu"}}, {"batchnorm": {}}] * 20
    run = train(digits_spec(relu_bn + [{"dense": 10}], epochs=2), tmp_path, "relu_bn")
    found = kinds(deepnet.diagnose(run))
    assert not GRADIENT_KINDS & set(found), found


def test_sgd_lr_5_is_unstable_or_diverged(tmp_path):
    spec = digits_spec([{"dense": {"units": 64, "activation": "relu"}}, {"dense": 10}],
                       epochs=6, optimizer={"name": "sgd", "lr": 5.0})
    findings = deepnet.diagnose(train(spec, tmp_path))
    check_shape(findings)
    top = findings[0]
    assert top.kind in ("unstable_training", "diverged")
    assert top.remedy.changes["train.optimizer.lr"] == pytest.approx(0.5)
    assert top.evidence["lr"] == 5.0


def test_diverged_non_finite_loss(tmp_path):
    spec = digits_spec([{"dense": 10}], epochs=3, optimizer={"name": "sgd", "lr": 1e30},
                       early_stopping=None)
    findings = deepnet.diagnose(train(spec, tmp_path))
    assert findings[0].kind == "diverged" and findings[0].severity == "critical"
    assert findings[0].remedy.changes["train.clip_grad_norm"] == 1.0


def test_digits_example_has_no_fit_or_gradient_finding(tmp_path, capsys):
    spec = deepnet.Spec.from_yaml("examples/digits.yaml")
    run = train(spec, tmp_path)
    assert main(["diagnose", str(run.path), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    bad = {"overfitting", "underfitting"} | GRADIENT_KINDS
    assert not bad & {f["kind"] for f in found}, found
    assert main(["diagnose", str(run.path)]) == 0
    assert capsys.readouterr().out.strip()
    # the report written by train() carries the findings
    html = (run.path / "report.html").read_text()
    assert "Diagnosis" in html and found[0]["kind"].replace("_", " ") in html


def test_diagnose_bad_run_directory_exit_2(tmp_path, capsys):
    assert main(["diagnose", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "not found" in err and "Traceback" not in err


# ----------------------------------------------------------------------------- pieces
NESTED = {"name": "n", "data": "digits", "model": {"layers": [
    {"flatten": {}},
    {"dense": {"units": 16, "activation": "relu"}},
    {"residual": {"layers": [{"dense": {"units": 16, "activation": "relu"}},
                             {"dense": 16}]}},
    {"repeat": {"times": 2, "layers": [{"dense": {"units": 16, "activation": "tanh"}},
                                       {"batchnorm": {}}]}},
    {"dense": 10}]}}


def test_gradient_keys_map_to_spec_paths_through_residual_and_repeat():
    spec = deepnet.Spec.from_dict(NESTED)
    model = deepnet.build(spec, (1, 8, 8))
    names = dict(model.named_parameters())
    assert model.spec_path("1.op.weight") == "model.layers[1]"
    assert model.spec_path("2.body.1.op.weight") == "model.layers[2].residual.layers[1]"
    assert model.spec_path("3.1.0.op.weight") == "model.layers[3].repeat[1].layers[0]"
    assert model.spec_path("3.0.1.weight") == "model.layers[3].repeat[0].layers[1]"
    assert {"1.op.weight", "2.body.1.op.weight", "3.1.0.op.weight"} <= set(names)
    layers = weight_layers(model)
    assert [p for p, _ in layers] == [
        "model.layers[1]", "model.layers[2].residual.layers[0]",
        "model.layers[2].residual.layers[1]", "model.layers[3].repeat[0].layers[0]",
        "model.layers[3].repeat[1].layers[0]", "model.layers[4]"]
    # the summary uses the same paths
    rows = [r.path for r in deepnet.summary(spec, input_shape=(1, 8, 8)).layers]
    assert {p for p, _ in layers} <= set(rows)


def test_layer_items_name_each_spec_item_once_with_its_arguments():
    items = layer_items(deepnet.Spec.from_dict(NESTED))
    assert [(p, n) for p, n, _ in items] == [
        ("model.layers[0]", "flatten"), ("model.layers[1]", "dense"),
        ("model.layers[2]", "residual"), ("model.layers[2].residual.layers[0]", "dense"),
        ("model.layers[2].residual.layers[1]", "dense"), ("model.layers[3]", "repeat"),
        ("model.layers[3].repeat.layers[0]", "dense"),
        ("model.layers[3].repeat.layers[1]", "batchnorm"), ("model.layers[4]", "dense")]
    args = dict((p, a) for p, _, a in items)
    assert args["model.layers[3].repeat.layers[0]"] == {
        "units": 16, "activation": "tanh", "init": None, "bias": True}
    assert args["model.layers[3]"]["times"] == 2 and args["model.layers[0]"] == {}


@pytest.mark.parametrize("task, metric", [("classification", "accuracy"),
                                          ("regression", "mae")])
def test_facts_metric_defaults_to_the_tasks_first_training_metric(task, metric):
    spec = digits_spec([{"dense": 10}])
    assert spec.train.metrics is None
    assert Facts(spec, [], task=task).metric == metric
    assert Facts(digits_spec([{"dense": 10}], metrics=["f1"]), [], task=task).metric == "f1"


def test_apply_changes_sets_paths_and_leaves_the_spec_alone():
    spec = deepnet.Spec.from_dict(NESTED)
    new = apply_changes(spec, {"train.optimizer.lr": 0.01,
                               "model.layers[3].repeat.layers[0].dense.activation": "relu",
                               "train.early_stopping": {"monitor": "val_loss", "patience": 9}})
    assert new.train.optimizer.lr == 0.01 and spec.train.optimizer.lr == 0.001
    assert new.model.layers[3].repeat.layers[0].dense.activation == "relu"
    assert new.train.early_stopping.patience == 9


def test_dead_units_named_by_the_recorded_spec_path_and_fixed_on_the_spec_item():
    spec = deepnet.Spec.from_dict({"name": "d", "data": "digits", "model": {"layers": [
        {"flatten": {}},
        {"repeat": {"times": 2, "layers": [{"dense": {"units": 16, "activation": "relu"}}]}},
        {"dense": 10}]}})
    model = deepnet.build(spec, (1, 8, 8))
    with torch.no_grad():
        model.get_parameter("1.1.0.op.bias").fill_(-1e3)  # the second copy never fires
    x = np.random.default_rng(0).standard_normal((64, 1, 8, 8)).astype(np.float32)
    found = dict((p, (d, n)) for p, d, n in dead_fractions(model, x))
    assert found["model.layers[1].repeat[1].layers[0]"] == (16, 16)
    assert found["model.layers[1].repeat[0].layers[0]"][0] < 16
    facts = Facts(spec, [{"epoch": 1}], model=model, val_x=x, input_shape=(1, 8, 8))
    (finding,) = detect_dead_units(facts)
    assert finding.severity == "critical"
    assert finding.evidence["layers"][0]["layer"] == "model.layers[1].repeat[1].layers[0]"
    assert finding.remedy.changes == {"model.layers[1].repeat.layers[0].dense.activation":
                                      "leaky_relu"}
