"""Memory and FLOPs estimates (deepnet.resources) against measurements, the largest batch
for a budget, sizes, and the summary command's new options."""

from __future__ import annotations

import json

import pytest
import torch

import deepnet
from deepnet.cli import main
from deepnet.core.errors import DeepnetError
from deepnet.core.units import parse_size
from deepnet.nn.build import build_model
from deepnet.nn.layers import spec_layer_types
from deepnet.resources import (
    backward_flops,
    estimate_memory,
    measure_memory,
    optimizer_state_factor,
    plan_memory,
)
from deepnet.spec import Optimizer

# Five architectures (bench/memory.py runs the same ones); the transformer
# also with attention dropout, the path that keeps the attention weights.
ARCHITECTURES = {
    "mlp": ([{"flatten": {}}, {"dense": {"units": 256, "activation": "relu"}},
             {"dense": {"units": 128, "activation": "relu"}}, {"dropout": 0.2},
             {"dense": 10}], (1, 28, 28)),
    "cnn": ([{"conv2d": {"filters": 16, "activation": "relu"}}, {"batchnorm": {}},
             {"maxpool2d": 2}, {"conv2d": {"filters": 32, "activation": "relu"}},
             {"maxpool2d": 2}, {"flatten": {}}, {"dropout": 0.3},
             {"dense": {"units": 64, "activation": "relu"}}, {"dense": 10}], (1, 16, 16)),
    "lstm": ([{"lstm": 32}, {"dense": 10}], (16, 16)),
    "gru": ([{"gru": 32}, {"dense": 10}], (16, 16)),
    "transformer": ([{"dense": 32}, {"transformer": {"heads": 4, "ff_units": 64}},
                     {"globalavgpool": {}}, {"dense": 10}], (16, 16)),
    "transformer-dropout": ([{"dense": 32},
                             {"transformer": {"heads": 4, "ff_units": 64, "dropout": 0.1}},
                             {"globalavgpool": {}}, {"dense": 10}], (16, 16)),
}

# Small networks that together use every registered layer type, in varied neighbourhoods
# (first layer, after a strided or time-major output, inside residual/repeat).
MIXED = {
    "activations-norms": ([{"dense": {"units": 32, "activation": "gelu"}}, {"layernorm": {}},
                           {"dense": {"units": 16, "activation": "silu"}},
                           {"activation": "tanh"}, {"dense": 3}], (20,)),
    "conv1d": ([{"conv1d": {"filters": 8, "activation": "relu"}}, {"batchnorm": {}},
                {"maxpool1d": 2}, {"layernorm": {}}, {"dense": {"units": 4, "activation": "elu"}},
                {"flatten": {}}, {"dense": 2}], (20, 6)),
    "residual-repeat": ([{"conv2d": {"filters": 8, "activation": "relu"}},
                         {"residual": [{"conv2d": {"filters": 8, "activation": "relu"}},
                                       {"batchnorm": {}}, {"conv2d": 8}]},
                         {"activation": "relu"}, {"avgpool2d": 2},
                         {"repeat": {"times": 2, "layers": [
                             {"conv2d": {"filters": 8, "activation": "leaky_relu"}},
                             {"dropout": 0.1}]}},
                         {"globalavgpool": {}}, {"batchnorm": {}},
                         {"dense": {"units": 10, "activation": "softmax"}}], (3, 12, 12)),
    "reshape": ([{"reshape": [4, 16]}, {"dense": {"units": 8, "activation": "relu"}},
                 {"reshape": [-1]}, {"dropout": 0.0}, {"dense": 3}], (64,)),
    "embedding-recurrent": ([{"embedding": {"vocab": 50, "dim": 16}},
                             {"lstm": {"units": 24, "bidirectional": True,
                                       "return_sequences": True}},
                             {"gru": {"units": 12, "bidirectional": True}}, {"dense": 2}], (15,)),
    "embeddingbag": ([{"embeddingbag": {"vocab": 60, "dim": 32}},
                      {"dense": {"units": 16, "activation": "relu"}}, {"dense": 3}], (40,)),
    "sequence-mix": ([{"lstm": {"units": 8, "return_sequences": True}},
                      {"conv1d": {"filters": 6, "activation": "relu"}},
                      {"gru": {"units": 6, "return_sequences": True}}, {"attention": 2},
                      {"dense": 4}, {"transformer": {"heads": 2, "dropout": 0.2}},
                      {"flatten": {}}, {"dense": 2}], (8, 5)),
    "logmel": ([{"logmel": {"mels": 16, "sample_rate": 8000}}, {"batchnorm": {}},
                {"conv2d": {"filters": 4, "activation": "relu"}}, {"globalavgpool": {}},
                {"dense": 3}], (4000,)),
    "first-parameter-free": ([{"dropout": 0.3}, {"maxpool2d": 2}, {"activation": "relu"},
                              {"flatten": {}}, {"dense": 4}], (2, 6, 6)),
}


def _spec(layers, **train) -> deepnet.Spec:
    return deepnet.Spec.from_dict({"name": "t", "data": {"source": "digits"},
                                   "model": {"layers": layers}, "train": train})


def _error(estimate: float, measured: float) -> float:
    return abs(estimate - measured) / measured


def _compare(layers, shape, batch, **kwargs):
    spec = _spec(layers)
    model, _ = build_model(spec.model.layers, shape, spec.seed)
    return estimate_memory(spec, shape, batch, **kwargs), measure_memory(model, shape, batch,
                                                                         **kwargs)


@pytest.mark.parametrize("batch", [1, 32, 256])
@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_estimate_within_10_percent_of_measured(arch, batch):
    est, meas = _compare(*ARCHITECTURES[arch], batch)
    assert _error(est.total, meas.total) <= 0.10
    assert meas.activations > 0.01 * meas.total or batch == 1
    if meas.activations > 0.01 * meas.total:  # non-trivial next to the model state
        assert _error(est.activations, meas.activations) <= 0.10
    assert (est.parameters, est.gradients) == (meas.parameters, meas.gradients)
    assert est.inference > est.parameters


def test_every_layer_type_is_checked_against_a_measurement():
    used = {name for layers, _ in MIXED.values() for name in _types(layers)}
    used |= {name for layers, _ in ARCHITECTURES.values() for name in _types(layers)}
    assert used == set(spec_layer_types())  # the front (inputs): tests/app/test_multi_input.py


def _types(layers):
    for item in layers:
        (name, args), = item.items()
        yield name
        if isinstance(args, dict) and "layers" in args:
            yield from _types(args["layers"])
        elif name == "residual":
            yield from _types(args)


@pytest.mark.parametrize("case", list(MIXED))
def test_every_layer_type_within_10_percent(case):
    est, meas = _compare(*MIXED[case], 4)
    assert _error(est.activations, meas.activations) <= 0.10
    assert _error(est.total, meas.total) <= 0.10


@pytest.mark.parametrize(("optimizer", "momentum", "factor"), [
    ("sgd", 0.0, 0), ("sgd", 0.9, 1), ("adam", 0.0, 2), ("adamw", 0.0, 2),
    ("rmsprop", 0.0, 1), ("rmsprop", 0.9, 2)])
def test_optimizer_state(optimizer, momentum, factor):
    layers, shape = ARCHITECTURES["mlp"]
    est, meas = _compare(layers, shape, 4, optimizer=optimizer, momentum=momentum)
    assert optimizer_state_factor(optimizer, momentum) == factor
    assert est.optimizer == factor * est.parameters
    assert abs(meas.optimizer - est.optimizer) <= 4 * 6  # adam/rmsprop: a step per tensor


def test_default_optimizer_is_the_specs():
    layers, shape = ARCHITECTURES["mlp"]
    m = estimate_memory(_spec(layers), shape, 8)
    assert Optimizer().name == "adam" and m == estimate_memory(_spec(layers), shape, 8,
                                                               optimizer="adam")
    assert m.optimizer == 2 * m.parameters  # adam's two moments


def test_plain_module_is_estimated_too():
    layers, shape = ARCHITECTURES["cnn"]
    spec = _spec(layers)
    model, _ = build_model(spec.model.layers, shape)
    est, meas = estimate_memory(model, shape, 16), measure_memory(model, shape, 16)
    assert _error(est.activations, meas.activations) <= 0.10
    assert est.total == pytest.approx(estimate_memory(spec, shape, 16).total, rel=0.01)


def test_precision_and_bad_arguments():
    layers, shape = ARCHITECTURES["mlp"]
    fp32 = estimate_memory(_spec(layers), shape, 32)
    bf16 = estimate_memory(_spec(layers), shape, 32, precision="bf16")
    assert bf16.parameters == fp32.parameters and bf16.activations < fp32.activations
    for kwargs in ({"precision": "fp8"}, {"optimizer": "lion"}, {"batch_size": 0}):
        with pytest.raises(DeepnetError):
            estimate_memory(_spec(layers), shape, **{"batch_size": 4, **kwargs})


@pytest.mark.parametrize("arch", ["cnn", "lstm"])
@pytest.mark.parametrize("budget", ["40MiB", "1GB"])
def test_max_batch_fits_and_one_more_does_not(arch, budget):
    layers, shape = ARCHITECTURES[arch]
    spec, limit = _spec(layers), parse_size(budget)
    batch = plan_memory(spec, shape).max_batch(limit)
    assert batch >= 1
    assert estimate_memory(spec, shape, batch).total <= limit
    assert estimate_memory(spec, shape, batch + 1).total > limit


def test_max_batch_zero_when_nothing_fits():
    layers, shape = ARCHITECTURES["mlp"]
    assert plan_memory(_spec(layers), shape).max_batch(1000) == 0


def test_parse_size():
    assert parse_size("8GB") == 8 * 10**9
    assert parse_size("512MiB") == 512 * 2**20
    assert parse_size("1.5GiB") == 3 * 2**29
    assert parse_size("1000000") == 10**6
    assert parse_size(" 64 kb ") == 64000
    for bad in ("8XB", "-1GB", "", "GB", "1e3", "0", "8 G B"):
        with pytest.raises(DeepnetError):
            parse_size(bad)


def test_backward_flops_per_row():
    layers, shape = ARCHITECTURES["mlp"]
    spec = _spec(layers)
    s = deepnet.summary(spec, batch_size=8, input_shape=shape)
    flatten, first, second, dropout, last = s.layers
    assert backward_flops(s.layers) == [0, first.flops, 2 * second.flops, 0, 2 * last.flops]
    assert s.flops_backward == sum(backward_flops(s.layers)) > s.flops
    assert s.memory.total == estimate_memory(spec, shape, 8).total


# ----------------------------------------------------------------------------- the CLI
def test_cli_max_batch_json(capsys):
    args = ["summary", "examples/digits.yaml", "--max-batch", "--memory", "64MiB", "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"layers", "input_shape", "batch_size", "total_params",
                        "trainable_params", "flops", "flops_backward", "memory",
                        "inference_memory", "max_batch", "normalisation"}
    spec, batch = deepnet.Spec.from_yaml("examples/digits.yaml"), out["max_batch"]
    assert estimate_memory(spec, (1, 8, 8), batch).total <= 64 * 2**20
    assert estimate_memory(spec, (1, 8, 8), batch + 1).total > 64 * 2**20


def test_cli_table_with_max_batch_and_tflops(capsys):
    assert main(["summary", "examples/digits.yaml", "--max-batch", "--memory", "1GB",
                 "--tflops", "10"]) == 0
    out = capsys.readouterr().out
    assert "the largest batch that fits is" in out and "epoch of" in out
    assert "FLOPs bwd" in out and "inference memory" in out


def test_tflops_epoch_estimate():
    from deepnet.data.prepare import prepare

    spec = deepnet.Spec.from_yaml("examples/digits.yaml")
    s = deepnet.summary(spec, tflops=2.0)
    assert s.train_samples == len(prepare(spec).splits["train"])
    assert s.epoch_seconds == pytest.approx(
        s.train_samples * (s.flops + s.flops_backward) / 2e12)
    assert s.to_dict()["epoch_seconds"] == s.epoch_seconds


@pytest.mark.parametrize(("args", "message"), [
    (["--max-batch", "--memory", "8XB"], "memory size '8XB' not understood"),
    (["--max-batch", "--memory", "0"], "at least 1 byte"),
    (["--max-batch"], "--max-batch and --memory go together"),
    (["--memory", "8GB"], "--max-batch and --memory go together"),
    (["--tflops", "0"], "--tflops must be a positive number"),
])
def test_cli_bad_arguments_exit_2(args, message, capsys):
    assert main(["summary", "examples/digits.yaml", *args]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""


def test_measurement_counts_the_saved_input_once():
    # relu keeps its output and the next dense keeps the same tensor as its input
    layers = [{"dense": {"units": 5, "activation": "relu"}}, {"dense": 2}]
    est, meas = _compare(layers, (3,), 4)
    assert meas.activations == est.activations == 4 * 4 * (3 + 5)
    assert torch.is_grad_enabled()
