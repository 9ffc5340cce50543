"""The activation registry holds every fact about an activation: what it keeps for
backward (checked against what autograd saves) and its initialisation gain and slope
(checked against torch's calculate_gain and the direct init calls)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from deepnet.nn.activations import ACTIVATIONS, LEAKY_SLOPE
from deepnet.nn.cost import activation_saves
from deepnet.nn.init import INITS

TORCH_GAINS = {"sigmoid", "tanh", "relu", "linear"}  # the names calculate_gain knows


def _saved(module: nn.Module, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    kept: list[torch.Tensor] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        kept.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = module(x)
    return kept, out


@pytest.mark.parametrize("name", ACTIVATIONS.names)
def test_saves_is_what_autograd_keeps(name):
    x = torch.randn(4, 6, requires_grad=True)
    kept, out = _saved(ACTIVATIONS[name].make(), x)
    storages = {t.untyped_storage().data_ptr() for t in kept}
    keeps = {"input": x.untyped_storage().data_ptr() in storages,
             "output": out.untyped_storage().data_ptr() in storages}
    saves = ACTIVATIONS[name].saves
    assert activation_saves(name) == saves
    if saves is None:
        assert not kept
    else:
        assert keeps[saves], (name, keeps)


@pytest.mark.parametrize("name", ACTIVATIONS.names)
def test_gain_and_slope_are_torchs(name):
    a = ACTIVATIONS[name]
    if name == "leaky_relu":
        assert a.gain == nn.init.calculate_gain("leaky_relu", LEAKY_SLOPE)
        assert a.slope == LEAKY_SLOPE == a.make().negative_slope
    else:
        assert a.gain == (nn.init.calculate_gain(name) if name in TORCH_GAINS else 1.0)
        assert a.slope == 0.0


@pytest.mark.parametrize("name", ["leaky_relu", "tanh", "gelu"])
def test_inits_use_the_entry_gain_and_slope(name):
    a = ACTIVATIONS[name]
    got, want = torch.empty(32, 16), torch.empty(32, 16)
    INITS["kaiming_normal"](got, name, torch.Generator().manual_seed(1))
    nn.init.kaiming_normal_(want, a=a.slope, nonlinearity="leaky_relu",
                            generator=torch.Generator().manual_seed(1))
    assert torch.equal(got, want)
    INITS["xavier_uniform"](got, name, torch.Generator().manual_seed(2))
    nn.init.xavier_uniform_(want, gain=a.gain, generator=torch.Generator().manual_seed(2))
    assert torch.equal(got, want)
    assert got.abs().max() <= a.gain * (6 / (32 + 16)) ** 0.5
