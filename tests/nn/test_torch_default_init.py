"""init: torch_default (issue 22, item 5), per layer and model-wide (`model.init`):
PyTorch's own initialisation, so that a published PyTorch recipe is reproduced as written;
seeded by the spec's seed alone, whatever the global RNG's state."""

import torch
from torch import nn

import deepnet
from deepnet.nn.build import build_model


def _seeded_torch(seed: int) -> None:
    """The global RNG as deepnet's torch_default sets it for a network's first layer."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(int(torch.randint(0, 2**62, (), generator=g)))


def test_a_dense_layer_gets_exactly_what_pytorch_gives_it():
    layers = deepnet.Spec.from_dict({"data": {"source": "digits"}, "model": {"layers": [
        {"dense": {"units": 3, "init": "torch_default"}}]}}).model.layers
    torch.manual_seed(123)
    model, _ = build_model(layers, (4,), seed=7)
    torch.manual_seed(456)
    again, _ = build_model(layers, (4,), seed=7)  # the global RNG's state plays no part
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                  again.state_dict().values(), strict=True))
    _seeded_torch(7)
    ref = nn.Linear(4, 3)
    lin = next(m for m in model.modules() if isinstance(m, nn.Linear))
    assert torch.equal(lin.weight, ref.weight) and torch.equal(lin.bias, ref.bias)
    assert lin.bias.abs().min() > 0  # PyTorch's biases, not deepnet's zeros


def test_model_wide_default_reaches_every_layer_that_names_none():
    spec = deepnet.Spec.from_dict({
        "name": "t", "data": {"source": "synthetic", "synthetic": {"kind": "sequence"}},
        "model": {"init": "torch_default",
                  "layers": [{"lstm": {"units": 8, "return_sequences": True}},
                             {"dense": {"units": 8, "activation": "relu"}},
                             {"dense": {"units": 4, "init": "zeros"}}]}})
    model = deepnet.build(spec)
    lstm = next(m for m in model.modules() if isinstance(m, nn.LSTM))
    bound = 1 / 8 ** 0.5  # PyTorch's LSTM: every parameter uniform in +-1/sqrt(hidden)
    for name, p in lstm.named_parameters():
        assert p.abs().max() <= bound and p.abs().min() > 0, name
    h = lstm.hidden_size
    assert not torch.all(lstm.bias_ih_l0[h:2 * h] == 1)  # not deepnet's forget-gate bias
    dense = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert dense[0].bias.abs().min() > 0  # torch_default
    assert torch.all(dense[1].weight == 0)  # its own init wins
    again = deepnet.build(spec)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                  again.state_dict().values(), strict=True))
    other = deepnet.build(spec.model_copy(update={"seed": 1}))
    assert not torch.equal(next(iter(other.state_dict().values())),
                           next(iter(model.state_dict().values())))


def test_an_unknown_model_init_is_refused_with_the_names():
    try:
        deepnet.Spec.from_dict({"name": "t", "data": {"source": "digits"},
                                "model": {"init": "torch", "layers": [{"flatten": {}},
                                                                      {"dense": 10}]}})
    except deepnet.SpecError as e:
        assert "model.init" in str(e) and "torch_default" in str(e)
    else:
        raise AssertionError("model.init: torch was accepted")
