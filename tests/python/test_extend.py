"""Extending deepnet from Python: a registered layer trains, resumes bit-exactly and
shows in the summary; registered activations, losses, metrics and callbacks work from a
spec; bad registrations and unregistered names are clear errors."""

from typing import ClassVar

import numpy as np
import pytest
import torch
from torch import nn

import deepnet
from deepnet.extend import unregister
from deepnet.nn.layers import LAYERS
from deepnet.train.callbacks import CALLBACKS
from deepnet.train.metrics import METRICS


class GatedArgs(deepnet.LayerArgs):
    main: ClassVar[str] = "units"
    units: int


class Gated(nn.Module):
    """A gated linear unit: a linear map times a sigmoid gate of the same input."""

    def __init__(self, n_in: int, units: int):
        super().__init__()
        self.value = nn.Linear(n_in, units)
        self.gate = nn.Linear(n_in, units)

    def forward(self, x):
        return self.value(x) * torch.sigmoid(self.gate(x))


class CountBatches(deepnet.Callback):
    """Counts optimizer steps; its count is checkpointed."""

    made: ClassVar[list] = []

    def __init__(self):
        self.batches = 0
        CountBatches.made.append(self)

    def on_batch_end(self, trainer, loss):
        self.batches += 1

    def state_dict(self):
        return {"batches": self.batches}

    def load_state(self, state, tensors):
        self.batches = state["batches"]


def _error_rate(out, y):
    return (out.argmax(-1) != y).float().mean().item()


REGISTERED = [("layer", "gated"), ("activation", "softsign_test"), ("loss", "nll_of_softmax"),
              ("metric", "error_rate"), ("callback", "count_batches")]


@pytest.fixture(autouse=True, scope="module")
def registered():
    """The registrations of this module, undone after it: other tests see the built-in
    names only."""
    deepnet.register_layer("gated", lambda a, shape: Gated(shape[-1], a.units), GatedArgs,
                           flops=lambda a, s, out: 4 * s[-1] * a.units)
    deepnet.register_activation("softsign_test", nn.Softsign)
    deepnet.register_loss("nll_of_softmax", lambda out, t: nn.functional.cross_entropy(out, t),
                          task="classification")
    deepnet.register_metric("error_rate", _error_rate, task="classification",
                            higher_is_better=False)
    deepnet.register_callback("count_batches", CountBatches)
    yield
    for kind, name in REGISTERED:
        unregister(kind, name)
    assert "gated" not in LAYERS and "error_rate" not in METRICS


def _spec(epochs=4, **train):
    return {"name": "gated", "seed": 3, "data": "digits", "model": {"layers": [
        {"flatten": None}, {"gated": 32}, {"activation": "relu"}, {"dense": 10}]},
        "train": {"epochs": epochs, "early_stopping": None, **train}}


class Interrupt(deepnet.Callback):
    def __init__(self, after: int):
        self.after = after

    def on_epoch_end(self, trainer, logs):
        if logs["epoch"] == self.after:
            raise KeyboardInterrupt


def _weights(run):
    return {k: v.clone() for k, v in run.model.state_dict().items()}


def test_a_registered_layer_trains_resumes_bit_exactly_and_is_summarised(tmp_path):
    spec = _spec(callbacks=["count_batches"])
    whole = deepnet.train(spec, out=tmp_path / "whole", quiet=True, report=False)
    assert whole.results.test["accuracy"] > 0.8
    counted = CountBatches.made[-1].batches
    with pytest.raises(KeyboardInterrupt):
        deepnet.train(spec, out=tmp_path / "part", quiet=True, report=False,
                      callbacks=[Interrupt(after=2)])
    resumed = deepnet.train(None, resume=tmp_path / "part", quiet=True, report=False)
    assert CountBatches.made[-1].batches == counted  # its state came back from the checkpoint
    a, b = _weights(whole), _weights(resumed)
    assert a.keys() == b.keys() and any(".gate." in k for k in a)
    assert all(torch.equal(a[k], b[k]) for k in a)
    loaded = deepnet.load(whole.path)
    x = np.random.default_rng(0).random((5, 64), dtype=np.float32)
    assert np.array_equal(loaded.predict_proba(x), whole.predict_proba(x))

    s = deepnet.summary(spec)
    row = next(r for r in s.layers if r.type == "gated")
    assert row.params == 2 * (64 * 32 + 32) and row.output_shape == (32,)
    assert row.flops == 4 * 64 * 32
    assert s.total_params == sum(p.numel() for p in whole.model.parameters())
    assert s.excluded == ["layers[1] (gated)"] and "excludes the activations" in s.note


def test_a_registered_layer_is_seeded_by_the_spec():
    torch.manual_seed(123)
    a = deepnet.build(_spec())
    torch.manual_seed(456)
    b = deepnet.build(_spec())
    c = deepnet.build({**_spec(), "seed": 4})
    assert torch.equal(a[1].gate.weight, b[1].gate.weight)
    assert not torch.equal(a[1].gate.weight, c[1].gate.weight)


def test_registered_names_are_checked_like_built_in_ones():
    bad = _spec()
    bad["model"]["layers"][1] = {"gated": {"units": 32, "unit": 2}}
    with pytest.raises(deepnet.SpecError, match=r"model.layers\[1\].*unit"):
        deepnet.build(bad)
    bad["model"]["layers"][1] = {"gatd": 32}
    with pytest.raises(deepnet.SpecError, match="did you mean 'gated'"):
        deepnet.build(bad)
    with pytest.raises(deepnet.SpecError, match="unknown callback 'count'"):
        deepnet.Spec.coerce(_spec(callbacks=["count"]))
    bad["model"]["layers"][1] = {"gated": {"units": "many"}}
    with pytest.raises(deepnet.SpecError, match=r"model.layers\[1\]: gated.units: Input "
                                                r"should be a valid integer"):
        deepnet.build(bad)


def test_a_layer_whose_module_fails_is_a_spec_error_naming_it():
    deepnet.register_layer("broken_test", lambda a, shape: nn.Linear(3, 2))
    spec = _spec()
    spec["model"]["layers"][1] = {"broken_test": None}
    try:
        with pytest.raises(deepnet.SpecError, match=r"model.layers\[1\]: the registered "
                                                    r"layer 'broken_test' fails on input of "
                                                    r"shape \(64,\)"):
            deepnet.build(spec)
        deepnet.register_layer("broken_test", lambda a, shape: nn.Linear(shape[-1], 5))
        assert deepnet.build(spec)[1].out_features == 5  # registered again: replaced
    finally:
        unregister("layer", "broken_test")
    with pytest.raises(deepnet.SpecError, match="unknown layer type 'broken_test'"):
        deepnet.build(spec)


def test_registered_activation_loss_metric_and_callback_in_a_spec(tmp_path):
    spec = _spec(epochs=3, loss="nll_of_softmax", metrics=["accuracy", "error_rate"],
                 early_stopping={"monitor": "val_error_rate", "patience": 5})
    spec["model"]["layers"][2] = {"activation": "softsign_test"}
    run = deepnet.train(spec, out=tmp_path / "r", quiet=True, report=False)
    assert isinstance(run.model[2], nn.Softsign)
    for h in run.history:
        assert h["val_error_rate"] == pytest.approx(1 - h["val_accuracy"], abs=1e-6)
    assert run.results.test["error_rate"] == pytest.approx(1 - run.results.test["accuracy"],
                                                           abs=1e-6)
    best = min(run.history, key=lambda h: h["val_error_rate"])["epoch"]
    assert run.results.best_epoch == best  # "min" by the metric's own direction


def test_bad_registrations_are_refused():
    with pytest.raises(ValueError, match="layer 'dense' is built in"):
        deepnet.register_layer("dense", lambda a, s: nn.Identity())
    with pytest.raises(ValueError, match="layer 'dense' is built in"):
        unregister("layer", "dense")
    with pytest.raises(ValueError, match="metric 'nothing' is not registered"):
        unregister("metric", "nothing")
    with pytest.raises(deepnet.DeepnetError, match="Python identifier"):
        deepnet.register_layer("my layer", lambda a, s: nn.Identity())
    with pytest.raises(deepnet.DeepnetError, match="subclass of deepnet.LayerArgs"):
        deepnet.register_layer("argless_test", lambda a, s: nn.Identity(), args=dict)
    with pytest.raises(deepnet.DeepnetError, match="task must be one of"):
        deepnet.register_metric("m_test", _error_rate, task="ranking")
    with pytest.raises(deepnet.DeepnetError, match="metric 'accuracy' is built in"):
        deepnet.register_metric("accuracy", _error_rate, task="classification")
    with pytest.raises(deepnet.DeepnetError, match="expected a function"):
        deepnet.register_callback("cb_test", 42)
    with pytest.raises(deepnet.DeepnetError, match="expected a function"):
        deepnet.register_callback("count_batches", 42)  # a failed replacement keeps the old
    assert CALLBACKS["count_batches"] is CountBatches
    assert "m_test" not in METRICS and "cb_test" not in CALLBACKS


def test_registered_activations_are_estimated_like_built_in_ones():
    spec = _spec()
    spec["model"]["layers"][1] = {"dense": {"units": 32, "activation": "softsign_test"}}
    spec["model"]["layers"][2] = {"activation": "softsign_test"}
    s = deepnet.summary(spec)  # what the activation keeps is read from its entry
    builtin = deepnet.summary({**spec, "model": {"layers": [
        {"flatten": None}, {"dense": {"units": 32, "activation": "gelu"}},
        {"activation": "gelu"}, {"dense": 10}]}})
    assert s.memory.activations == builtin.memory.activations  # both keep their input


def test_names_that_could_clash_with_the_machinery():
    import pickle

    for name in ("registered", "<registered>"):
        spec = _spec()
        spec["model"]["layers"][1] = {name: {}}
        with pytest.raises(deepnet.SpecError, match="unknown layer type"):
            deepnet.Spec.coerce(spec)
    deepnet.register_layer("Dense", lambda a, s: nn.Identity())  # not the built-in "dense"
    try:
        spec = deepnet.Spec.coerce(_spec())
        assert pickle.loads(pickle.dumps(spec)) == spec
    finally:
        unregister("layer", "Dense")
    assert pickle.loads(pickle.dumps(spec)) == spec
    with pytest.raises(deepnet.DeepnetError, match="metric 'loss' would be logged"):
        deepnet.register_metric("loss", _error_rate, task="classification")


def test_lazy_modules_are_seeded_and_builder_failures_named():
    deepnet.register_layer("lazy_test", lambda a, s: nn.LazyLinear(5))
    deepnet.register_layer("raising_test", lambda a, s: 1 / 0)
    try:
        spec = _spec()
        spec["model"]["layers"][1] = {"lazy_test": None}
        torch.manual_seed(1)
        a = deepnet.build(spec)
        torch.manual_seed(2)
        b = deepnet.build(spec)
        assert torch.equal(a[1].weight, b[1].weight)
        spec["model"]["layers"][1] = {"raising_test": None}
        with pytest.raises(deepnet.SpecError, match=r"model.layers\[1\]: the builder of the "
                                                    r"registered layer 'raising_test' fails.*"
                                                    r"ZeroDivisionError"):
            deepnet.build(spec)
    finally:
        unregister("layer", "lazy_test")
        unregister("layer", "raising_test")
