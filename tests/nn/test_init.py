"""Seeded weight initialisation: reproducible from the spec's seed alone, and the scheme
each activation calls for (Kaiming for the ReLU family, Xavier for tanh, orthogonal
recurrent weights)."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import nn

import deepnet
from deepnet.nn.build import build_model
from deepnet.nn.init import INITS

SEQUENCE_NET = [
    {"embedding": {"vocab": 30, "dim": 8}},
    {"lstm": {"units": 8, "bidirectional": True, "return_sequences": True}},
    {"gru": {"units": 8, "return_sequences": True}},
    {"attention": 2},
    {"transformer": {"heads": 2, "ff_units": 16}},
    {"conv1d": {"filters": 4, "activation": "relu"}},
    {"globalavgpool": {}},
    {"dense": {"units": 3, "activation": "tanh"}},
]
IMAGE_NET = [
    {"conv2d": {"filters": 4, "activation": "relu"}},
    {"batchnorm": {}},
    {"maxpool2d": 2},
    {"flatten": {}},
    {"dense": {"units": 10, "activation": "leaky_relu"}},
    {"layernorm": {}},
    {"dense": 3},
]
NETS = {"sequence": (SEQUENCE_NET, (12,)), "image": (IMAGE_NET, (1, 8, 8))}


def _layers(items: list[dict[str, Any]]) -> list:
    spec = deepnet.Spec.from_dict({"data": {"source": "digits"}, "model": {"layers": items}})
    return spec.model.layers


def _model(items: list[dict[str, Any]], input_shape, seed: int = 0) -> nn.Module:
    return build_model(_layers(items), input_shape, seed)[0]


def _param(item: dict[str, Any], input_shape, name: str, seed: int = 0) -> torch.Tensor:
    return dict(_model([item], input_shape, seed).named_parameters())[name].detach()


@pytest.mark.parametrize("net", NETS.values(), ids=NETS.keys())
def test_same_seed_gives_the_same_weights_whatever_the_global_rng(net):
    items, shape = net
    torch.manual_seed(1)
    a = _model(items, shape, seed=7).state_dict()
    torch.manual_seed(2)
    torch.rand(100)
    b = _model(items, shape, seed=7).state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize("net", NETS.values(), ids=NETS.keys())
def test_different_seeds_give_different_weights(net):
    items, shape = net
    a = dict(_model(items, shape, seed=0).named_parameters())
    b = dict(_model(items, shape, seed=1).named_parameters())
    matrices = [name for name, p in a.items() if p.dim() >= 2]
    assert matrices
    for name in matrices:
        assert not torch.equal(a[name], b[name]), name


def test_relu_dense_is_kaiming_normal():
    w = _param({"dense": {"units": 512, "activation": "relu"}}, (512,), "0.op.weight")
    expected = math.sqrt(2 / 512)
    assert w.std().item() == pytest.approx(expected, rel=0.05)
    assert abs(w.mean().item()) < 0.05 * expected
    assert w.abs().max().item() > 3 * expected  # normal, not uniform: it has tails


def test_relu_conv2d_is_kaiming_normal_over_its_fan_in():
    w = _param({"conv2d": {"filters": 64, "kernel": 3, "activation": "relu"}}, (64, 4, 4),
               "0.op.weight")
    assert w.std().item() == pytest.approx(math.sqrt(2 / (64 * 9)), rel=0.05)


def test_tanh_dense_is_xavier_uniform():
    fan_in, fan_out = 256, 128
    w = _param({"dense": {"units": fan_out, "activation": "tanh"}}, (fan_in,), "0.op.weight")
    bound = nn.init.calculate_gain("tanh") * math.sqrt(6 / (fan_in + fan_out))
    assert w.abs().max().item() <= bound
    assert w.abs().max().item() > 0.99 * bound  # uniform: the bound is reached
    assert w.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.05)


@pytest.mark.parametrize("kind, gates", [("lstm", 4), ("gru", 3)])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_recurrent_hidden_weights_are_orthogonal_per_gate(kind, gates, bidirectional):
    units = 16
    params = dict(_model([{kind: {"units": units, "bidirectional": bidirectional}}], (5, 8))
                  .named_parameters())
    names = ["0.rnn.weight_hh_l0"] + (["0.rnn.weight_hh_l0_reverse"] if bidirectional else [])
    for name in names:
        w = params[name].detach()
        assert w.shape == (gates * units, units)
        for q in w.chunk(gates):
            torch.testing.assert_close(q.T @ q, torch.eye(units), atol=1e-5, rtol=0)


@pytest.mark.parametrize("net", NETS.values(), ids=NETS.keys())
def test_biases_start_at_zero_and_norm_scales_at_one(net):
    items, shape = net
    checked = 0
    for module in _model(items, shape, seed=5).modules():
        for name, p in module.named_parameters(recurse=False):
            if isinstance(module, nn.LSTM) and name.startswith("bias_ih"):
                h = module.hidden_size  # the forget gate starts at 1: remember by default
                assert torch.equal(p[h : 2 * h], torch.ones(h)), name
                p = torch.cat([p[:h], p[2 * h :]])
            if "bias" in name:
                assert torch.equal(p, torch.zeros_like(p)), name
                checked += 1
            elif isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d | nn.LayerNorm):
                assert torch.equal(p, torch.ones_like(p)), name
    assert checked >= 5


@pytest.mark.parametrize("item, shape", [
    ({"dense": {"units": 6, "activation": "relu", "init": "zeros"}}, (5,)),
    ({"conv2d": {"filters": 3, "init": "zeros"}}, (2, 5, 5)),
    ({"conv1d": {"filters": 3, "activation": "tanh", "init": "zeros"}}, (5, 2)),
])
def test_init_zeros_override(item, shape):
    model = _model([item], shape)
    for p in model.parameters():
        assert torch.equal(p, torch.zeros_like(p))


def test_orthogonal_and_normal_overrides():
    w = _param({"dense": {"units": 16, "init": "orthogonal"}}, (16,), "0.op.weight")
    torch.testing.assert_close(w.T @ w, torch.eye(16), atol=1e-5, rtol=0)
    w = _param({"dense": {"units": 256, "init": "normal"}}, (256,), "0.op.weight")
    assert w.std().item() == pytest.approx(0.02, rel=0.05)


@pytest.mark.parametrize("scheme", sorted(INITS))
def test_every_init_scheme_is_seeded(scheme):
    item = {"dense": {"units": 8, "activation": "relu", "init": scheme}}
    a = _param(item, (8,), "0.op.weight", seed=4)
    b = _param(item, (8,), "0.op.weight", seed=4)
    assert torch.equal(a, b)
    assert torch.isfinite(a).all()


def test_an_unknown_init_is_a_spec_error_listing_the_valid_ones():
    with pytest.raises(deepnet.SpecError) as e:
        _layers([{"dense": {"units": 4, "init": "kaiming"}}])
    assert "model.layers[0].dense.init" in str(e.value)
    assert "kaiming_normal" in str(e.value)
