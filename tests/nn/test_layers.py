"""One harness over every registered layer type (deepnet.nn.layers.LAYERS): output shape,
parameter count against the same layer written with torch.nn, backward pass, config
round trip, and numerical parity with the hand-written layer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import torch
import yaml
from torch import nn

import deepnet
from deepnet.nn.build import build_model
from deepnet.nn.layers import LAYERS, layer_name, spec_layer_types

SEED = 3
BATCH = 3


@dataclass(frozen=True)
class Case:
    item: dict[str, Any]  # one spec layer item, as written in YAML
    input_shape: tuple[int, ...]  # per sample
    output_shape: tuple[int, ...]  # per sample
    reference: Callable[[], nn.Module]  # the same layer written by hand with torch.nn
    # How the reference runs on a batch, when not plainly `reference(x)`.
    forward: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None
    vocab: int | None = None  # the input is token ids below this

    @property
    def type(self) -> str:
        return layer_name(self.item)


def _time_major(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return m(x.transpose(1, 2)).transpose(1, 2)


def _last_state(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The final hidden state of every direction, concatenated, from h_n."""
    h = m(x)[1]
    h = h[0] if isinstance(h, tuple) else h  # LSTM gives (h_n, c_n)
    return torch.cat(list(h), dim=-1)


def _skip(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return x + m(x)


def _sequences(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return m(x)[0]


class _LogMel(nn.Module):
    """torch.stft's power through librosa's HTK mel filters, then the log."""

    def __init__(self, rate=8000, n_fft=200, hop=80, mels=16):
        super().__init__()
        from librosa.filters import mel

        self.n_fft, self.hop = n_fft, hop
        self.filters = torch.as_tensor(mel(sr=rate, n_fft=n_fft, n_mels=mels, htk=True,
                                           norm=None))

    def forward(self, x):
        s = torch.stft(x, self.n_fft, self.hop, window=torch.hann_window(self.n_fft),
                       center=True, pad_mode="constant", return_complex=True).abs() ** 2
        return torch.log(torch.einsum("mf,nft->nmt", self.filters, s) + 1e-6)[:, None]


CASES: dict[str, Case] = {
    "logmel": Case({"logmel": {"mels": 16, "sample_rate": 8000}}, (800,), (1, 16, 11),
                   _LogMel),
    "dense": Case({"dense": {"units": 7}}, (5,), (7,), lambda: nn.Linear(5, 7)),
    "dense-relu-nobias-sequence": Case(
        {"dense": {"units": 7, "activation": "relu", "bias": False}}, (4, 5), (4, 7),
        lambda: nn.Sequential(nn.Linear(5, 7, bias=False), nn.ReLU()),
    ),
    "conv1d": Case(
        {"conv1d": {"filters": 6, "kernel": 3, "activation": "tanh"}}, (10, 4), (10, 6),
        lambda: nn.Sequential(nn.Conv1d(4, 6, 3, padding="same"), nn.Tanh()), _time_major,
    ),
    "conv1d-stride2-valid": Case(
        {"conv1d": {"filters": 6, "kernel": 3, "stride": 2, "padding": "valid"}}, (10, 4),
        (4, 6), lambda: nn.Conv1d(4, 6, 3, 2), _time_major,
    ),
    "conv2d": Case({"conv2d": {"filters": 4, "kernel": 3}}, (3, 8, 8), (4, 8, 8),
                   lambda: nn.Conv2d(3, 4, 3, padding="same")),
    "conv2d-stride2-same": Case(
        {"conv2d": {"filters": 4, "kernel": 3, "stride": 2, "activation": "relu"}}, (3, 8, 8),
        (4, 4, 4), lambda: nn.Sequential(nn.Conv2d(3, 4, 3, 2, padding=1), nn.ReLU()),
    ),
    "conv2d-padding2": Case({"conv2d": {"filters": 2, "kernel": 5, "padding": 2}}, (1, 6, 7),
                            (2, 6, 7), lambda: nn.Conv2d(1, 2, 5, padding=2)),
    "maxpool1d": Case({"maxpool1d": 2}, (9, 3), (4, 3), lambda: nn.MaxPool1d(2), _time_major),
    "maxpool2d": Case({"maxpool2d": 2}, (2, 8, 8), (2, 4, 4), lambda: nn.MaxPool2d(2)),
    "avgpool2d": Case({"avgpool2d": {"size": 3, "stride": 2}}, (2, 7, 7), (2, 3, 3),
                      lambda: nn.AvgPool2d(3, 2)),
    "globalavgpool-image": Case(
        {"globalavgpool": {}}, (3, 4, 5), (3,),
        lambda: nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()),
    ),
    "globalavgpool-sequence": Case(
        {"globalavgpool": None}, (6, 4), (4,),
        lambda: nn.Sequential(nn.AdaptiveAvgPool1d(1), nn.Flatten()),
        lambda m, x: m(x.transpose(1, 2)),
    ),
    "flatten": Case({"flatten": {}}, (2, 3, 4), (24,), nn.Flatten),
    "reshape": Case({"reshape": [4, 6]}, (24,), (4, 6), lambda: nn.Unflatten(1, (4, 6))),
    "reshape-infer": Case(
        {"reshape": {"shape": [-1, 8]}}, (2, 4, 4), (4, 8),
        lambda: nn.Sequential(nn.Flatten(), nn.Unflatten(1, (4, 8))),
    ),
    "embedding": Case({"embedding": {"vocab": 20, "dim": 8}}, (6,), (6, 8),
                      lambda: nn.Embedding(20, 8), vocab=20),
    "embeddingbag-mean": Case({"embeddingbag": {"vocab": 20, "dim": 8, "weights": "mean"}},
                              (6,), (8,), lambda: nn.EmbeddingBag(20, 8, padding_idx=0),
                              lambda m, x: m(x.masked_fill(x == 1, 0)),  # 1: unknown
                              vocab=20),
    "lstm": Case({"lstm": 5}, (6, 4), (5,), lambda: nn.LSTM(4, 5, batch_first=True),
                 _last_state),
    "lstm-bidirectional": Case(
        {"lstm": {"units": 5, "bidirectional": True}}, (6, 4), (10,),
        lambda: nn.LSTM(4, 5, batch_first=True, bidirectional=True), _last_state,
    ),
    "lstm-bidirectional-sequences": Case(
        {"lstm": {"units": 5, "bidirectional": True, "return_sequences": True}}, (6, 4),
        (6, 10), lambda: nn.LSTM(4, 5, batch_first=True, bidirectional=True), _sequences,
    ),
    "gru": Case({"gru": {"units": 5, "return_sequences": True}}, (6, 4), (6, 5),
                lambda: nn.GRU(4, 5, batch_first=True), _sequences),
    "gru-bidirectional": Case(
        {"gru": {"units": 5, "bidirectional": True}}, (6, 4), (10,),
        lambda: nn.GRU(4, 5, batch_first=True, bidirectional=True), _last_state,
    ),
    "attention": Case({"attention": {"heads": 2}}, (5, 8), (5, 8),
                      lambda: nn.MultiheadAttention(8, 2, batch_first=True),
                      lambda m, x: m(x, x, x, need_weights=False)[0]),
    "transformer": Case(
        {"transformer": {"heads": 2, "ff_units": 32}}, (5, 8), (5, 8),
        lambda: nn.TransformerEncoderLayer(8, 2, 32, dropout=0.0, batch_first=True),
    ),
    "transformer-default-ff": Case(
        {"transformer": 2}, (5, 6), (5, 6),  # ff_units defaults to 4 x features
        lambda: nn.TransformerEncoderLayer(6, 2, 24, dropout=0.0, batch_first=True),
    ),
    "batchnorm-features": Case({"batchnorm": {}}, (6,), (6,), lambda: nn.BatchNorm1d(6)),
    "batchnorm-sequence": Case({"batchnorm": {}}, (5, 6), (5, 6), lambda: nn.BatchNorm1d(6),
                               _time_major),
    "batchnorm-image": Case({"batchnorm": {}}, (3, 4, 4), (3, 4, 4), lambda: nn.BatchNorm2d(3)),
    "layernorm-features": Case({"layernorm": {}}, (6,), (6,), lambda: nn.LayerNorm(6)),
    "layernorm-sequence": Case({"layernorm": {}}, (5, 6), (5, 6), lambda: nn.LayerNorm(6)),
    "layernorm-image": Case({"layernorm": {}}, (3, 4, 4), (3, 4, 4),
                            lambda: nn.LayerNorm([3, 4, 4])),
    "dropout": Case({"dropout": 0.3}, (6,), (6,), lambda: nn.Dropout(0.3)),
    "activation": Case({"activation": "gelu"}, (4, 6), (4, 6), nn.GELU),
    "activation-leaky-relu": Case({"activation": {"name": "leaky_relu"}}, (6,), (6,),
                                  lambda: nn.LeakyReLU(0.01)),
    "residual": Case(
        {"residual": {"layers": [{"dense": {"units": 5, "activation": "relu"}}]}}, (5,), (5,),
        lambda: nn.Linear(5, 5), lambda m, x: x + torch.relu(m(x)),
    ),
    "residual-two-layers": Case(
        {"residual": [{"dense": 9}, {"dense": 5}]}, (5,), (5,),
        lambda: nn.Sequential(nn.Linear(5, 9), nn.Linear(9, 5)), _skip,
    ),
    "repeat": Case(
        {"repeat": {"times": 3, "layers": [{"dense": 6}, {"layernorm": {}}]}}, (4,), (6,),
        lambda: nn.Sequential(nn.Linear(4, 6), nn.LayerNorm(6), nn.Linear(6, 6),
                              nn.LayerNorm(6), nn.Linear(6, 6), nn.LayerNorm(6)),
    ),
    "repeat-residual": Case(
        {"repeat": {"times": 2, "layers": [{"residual": [{"dense": 5}]}]}}, (5,), (5,),
        lambda: nn.Sequential(nn.Linear(5, 5), nn.Linear(5, 5)),
        lambda m, x: _skip(m[1], _skip(m[0], x)),
    ),
}


def _spec(item: dict[str, Any], seed: int = SEED) -> deepnet.Spec:
    return deepnet.Spec.from_dict(
        {"seed": seed, "data": {"source": "digits"}, "model": {"layers": [item]}}
    )


def _input(case: Case) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    if case.vocab is not None:
        return torch.randint(0, case.vocab, (BATCH, *case.input_shape), generator=g)
    return torch.randn(BATCH, *case.input_shape, generator=g)


def _build(case: Case, spec: deepnet.Spec | None = None) -> nn.Module:
    spec = spec or _spec(case.item)
    model, _ = build_model([spec.model.layers[0]], case.input_shape, spec.seed)
    return model


def test_the_cases_cover_every_registered_layer():
    covered = {case.type for case in CASES.values()}
    missing = sorted(set(spec_layer_types()) - covered)  # the front: tests/app/test_multi_input.py
    assert not missing, f"add a harness case to CASES for layer types {missing}"
    assert covered <= set(LAYERS)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_forward_output_shape(case: Case):
    model, rows = build_model(_spec(case.item).model.layers, case.input_shape, SEED)
    out = model(_input(case))
    assert tuple(out.shape) == (BATCH, *case.output_shape)
    assert out.dtype == torch.float32
    assert tuple(rows[-1].output_shape) == case.output_shape  # what the summary shows


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_parameter_count_matches_torch(case: Case):
    expected = sum(p.numel() for p in case.reference().parameters())
    s = deepnet.summary(_spec(case.item), input_shape=case.input_shape)
    assert s.total_params == expected
    assert s.trainable_params == expected
    assert sum(r.params for r in s.layers) == expected
    assert all(r.path.startswith("model.layers[0]") for r in s.layers)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_backward(case: Case):
    model = _build(case)
    x = _input(case)
    if x.is_floating_point():
        x.requires_grad_(True)
    model(x).float().sum().backward()
    grads = [(name, p.grad) for name, p in model.named_parameters()]
    for name, grad in grads:
        assert grad is not None, f"{name} got no gradient"
        assert torch.isfinite(grad).all(), f"{name} has a non-finite gradient"
    if x.requires_grad:
        grads.append(("input", x.grad))
        assert x.grad is not None and torch.isfinite(x.grad).all()
    assert any(bool(g.abs().sum() > 0) for _, g in grads), "every gradient is zero"


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_config_round_trip(case: Case):
    spec = _spec(case.item)
    again = deepnet.Spec.from_dict(yaml.safe_load(spec.to_yaml()))
    assert again.model_dump() == spec.model_dump()
    a, b = _build(case, spec).state_dict(), _build(case, again).state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_matches_the_torch_layer_numerically(case: Case):
    model, reference = _build(case).eval(), case.reference().eval()
    params, ref_params = list(model.parameters()), list(reference.parameters())
    assert [p.shape for p in params] == [p.shape for p in ref_params]
    with torch.no_grad():
        for p, q in zip(params, ref_params, strict=True):
            q.copy_(p)
        x = _input(case)
        expected = case.forward(reference, x) if case.forward else reference(x)
        torch.testing.assert_close(model(x), expected)
