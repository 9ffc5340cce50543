"""The builder: deep nets written with `repeat`, shape errors that name the layer and both
shapes, and the FLOPs of the summary."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import pytest
import torch
from rich.console import Console
from torch.utils.flop_counter import FlopCounterMode

import deepnet
from deepnet.nn.build import build_model


def _spec(items: list[dict[str, Any]]) -> deepnet.Spec:
    return deepnet.Spec.from_dict({"data": {"source": "digits"}, "model": {"layers": items}})


def _build(items: list[dict[str, Any]], input_shape):
    return build_model(_spec(items).model.layers, input_shape, 0)


# ----------------------------------------------------------------------------- deep nets
def test_a_120_layer_net_written_with_repeat_builds_and_summarises_quickly():
    items = [{"repeat": {"times": 60, "layers": [
        {"dense": {"units": 32, "activation": "relu"}},
        {"layernorm": {}},
    ]}}]
    start = time.perf_counter()
    spec = _spec(items)
    s = deepnet.summary(spec, input_shape=(32,))
    model = deepnet.build(spec, input_shape=(32,))
    elapsed = time.perf_counter() - start
    assert elapsed < 5, f"building and summarising 120 layers took {elapsed:.1f} s"

    assert len(s.layers) == 120
    assert s.layers[0].path == "model.layers[0].repeat[0].layers[0]"
    assert s.layers[-1].path == "model.layers[0].repeat[59].layers[1]"
    assert [r.type for r in s.layers] == ["dense", "layernorm"] * 60
    assert len({r.path for r in s.layers}) == 120
    assert s.total_params == 60 * (32 * 32 + 32 + 2 * 32)
    assert sum(p.numel() for p in model.parameters()) == s.total_params
    out = model(torch.randn(2, 32))
    assert out.shape == (2, 32) and torch.isfinite(out).all()


def test_nested_repeat_and_residual_paths():
    items = [{"repeat": {"times": 2, "layers": [
        {"residual": [{"dense": 4}, {"dense": 4}]},
        {"repeat": {"times": 3, "layers": [{"layernorm": {}}]}},
    ]}}]
    _, rows = _build(items, (4,))
    paths = [r.path for r in rows]
    assert paths[:6] == [
        "model.layers[0].repeat[0].layers[0].residual.layers[0]",
        "model.layers[0].repeat[0].layers[0].residual.layers[1]",
        "model.layers[0].repeat[0].layers[0]",
        "model.layers[0].repeat[0].layers[1].repeat[0].layers[0]",
        "model.layers[0].repeat[0].layers[1].repeat[1].layers[0]",
        "model.layers[0].repeat[0].layers[1].repeat[2].layers[0]",
    ]
    assert len(rows) == 12 and paths[-1] == "model.layers[0].repeat[1].layers[1].repeat[2].layers[0]"


# ----------------------------------------------------------------------------- shape errors
SHAPE_ERRORS = {
    "conv2d-on-a-vector": (
        [{"dense": 64}, {"conv2d": 8}], (10,),
        ["model.layers[1]", "conv2d", "(64,)", "(channels, height, width)"],
    ),
    "conv1d-on-an-image": (
        [{"conv1d": 8}], (1, 8, 8), ["model.layers[0]", "(1, 8, 8)", "(time, features)"],
    ),
    "conv2d-kernel-bigger-than-the-image": (
        [{"conv2d": {"filters": 2, "kernel": 5, "padding": "valid"}}], (1, 3, 3),
        ["model.layers[0]", "(1, 3, 3)", "at least 5"],
    ),
    "lstm-on-an-image": (
        [{"flatten": {}}, {"reshape": [1, 8, 8]}, {"lstm": 4}], (64,),
        ["model.layers[2]", "lstm", "(1, 8, 8)", "(time, features)"],
    ),
    "attention-heads-not-dividing-features": (
        [{"dense": 6}, {"attention": 4}], (5, 3),
        ["model.layers[1]", "attention", "(5, 6)", "divisible by heads=4"],
    ),
    "transformer-heads-not-dividing-features": (
        [{"transformer": 3}], (5, 8), ["model.layers[0]", "(5, 8)", "divisible by heads=3"],
    ),
    "reshape-to-a-wrong-size": (
        [{"dense": 64}, {"reshape": [7, 7]}], (10,),
        ["model.layers[1]", "reshape", "(64,)", "64 values", "[7, 7]"],
    ),
    "reshape-with-an-impossible-inferred-axis": (
        [{"reshape": [-1, 5]}], (12,), ["model.layers[0]", "(12,)", "[-1, 5]"],
    ),
    "residual-that-changes-shape": (
        [{"dense": 64}, {"residual": [{"dense": 10}]}], (3,),
        ["model.layers[1]", "residual", "(64,)", "(10,)"],
    ),
    "maxpool-bigger-than-the-input": (
        [{"conv2d": 2}, {"maxpool2d": 3}], (1, 2, 2),
        ["model.layers[1]", "maxpool2d", "(2, 2, 2)", "at least 3"],
    ),
    "maxpool1d-on-a-vector": (
        [{"maxpool1d": 2}], (8,), ["model.layers[0]", "(8,)", "(time, features)"],
    ),
    "embedding-on-a-sequence": (
        [{"embedding": 10}], (5, 3), ["model.layers[0]", "(5, 3)", "token ids"],
    ),
    "dense-on-an-image": (
        [{"dense": 4}], (1, 8, 8), ["model.layers[0]", "(1, 8, 8)", "(features,)"],
    ),
    "globalavgpool-on-a-vector": (
        [{"globalavgpool": {}}], (8,), ["model.layers[0]", "(8,)", "(time, features)"],
    ),
    "inside-repeat": (
        [{"repeat": {"times": 3, "layers": [{"conv2d": {"filters": 2, "stride": 2}},
                                            {"maxpool2d": 2}]}}], (1, 16, 16),
        ["model.layers[0].repeat[2].layers[1]", "maxpool2d", "(2, 1, 1)", "at least 2"],
    ),
}


@pytest.mark.parametrize("items, input_shape, expected", SHAPE_ERRORS.values(),
                         ids=SHAPE_ERRORS.keys())
def test_shape_mismatch_is_a_spec_error_naming_the_layer_and_both_shapes(
    items, input_shape, expected
):
    with pytest.raises(deepnet.SpecError) as e:
        _build(items, input_shape)
    for part in expected:
        assert part in str(e.value), f"{part!r} not in {str(e.value)!r}"
    with pytest.raises(deepnet.SpecError, match=r"model\.layers\["):
        deepnet.summary(_spec(items), input_shape=input_shape)


# ----------------------------------------------------------------------------- FLOPs
def _counted_flops(model: torch.nn.Module, x: torch.Tensor) -> int:
    """Forward FLOPs of the matrix products and convolutions, per sample, by torch."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return counter.get_total_flops() // x.shape[0]


def test_dense_flops():
    _, rows = _build([{"dense": 7}], (5,))
    assert rows[0].flops == 2 * 5 * 7
    _, rows = _build([{"dense": 7}], (4, 5))  # applied at every time step
    assert rows[0].flops == 4 * 2 * 5 * 7
    assert deepnet.summary(_spec([{"dense": 7}]), input_shape=(5,)).flops == 70


@pytest.mark.parametrize("args, input_shape, out_hw", [
    ({"filters": 4, "kernel": 3}, (3, 8, 8), (8, 8)),
    ({"filters": 4, "kernel": 3, "stride": 2, "padding": "valid"}, (3, 9, 7), (4, 3)),
])
def test_conv2d_flops(args, input_shape, out_hw):
    c, k, f = input_shape[0], args["kernel"], args["filters"]
    model, rows = _build([{"conv2d": args}], input_shape)
    assert rows[0].output_shape == (f, *out_hw)
    # two FLOPs (multiply, add) per weight per output position
    assert rows[0].flops == 2 * c * k * k * f * out_hw[0] * out_hw[1]
    assert rows[0].flops == _counted_flops(model, torch.randn(2, *input_shape))


@pytest.mark.parametrize("items, input_shape", [
    ([{"dense": 7}], (5,)),
    ([{"dense": 7}], (4, 5)),
    ([{"conv1d": {"filters": 6, "kernel": 5, "stride": 2}}], (11, 3)),
    ([{"gru": {"units": 5, "bidirectional": True}}], (6, 4)),
])
def test_affine_flops_match_torch_flop_counter(items, input_shape):
    model, rows = _build(items, input_shape)
    assert rows[0].flops == _counted_flops(model, torch.randn(2, *input_shape))


def test_summary_totals_and_rendering():
    items = [{"conv2d": {"filters": 4, "activation": "relu"}}, {"maxpool2d": 2},
             {"flatten": {}}, {"dense": 10}]
    s = deepnet.summary(_spec(items), batch_size=16, input_shape=(1, 8, 8))
    assert s.total_params == (9 * 4 + 4) + (64 * 10 + 10)
    assert s.flops == sum(r.flops for r in s.layers)
    assert s.batch_size == 16 and s.input_shape == (1, 8, 8)
    data = json.loads(json.dumps(s.to_dict()))
    assert [r["output_shape"] for r in data["layers"]] == [[4, 8, 8], [4, 4, 4], [64], [10]]
    assert data["total_params"] == s.total_params and data["memory"]["total"] > 0
    out = io.StringIO()
    s.render(Console(file=out, width=120))
    assert "layers[3]" in out.getvalue() and f"{s.total_params:,}" in out.getvalue()
