"""Every name in the spec comes from a registry: a misspelt one, in any section, is a
spec error at its path with did-you-mean and the valid names, all problems at once."""

import copy

import pytest

from deepnet.attacks import ATTACKS
from deepnet.core.errors import SpecError
from deepnet.data.augment import AUGMENTS
from deepnet.nn.activations import ACTIVATIONS
from deepnet.nn.init import INITS
from deepnet.spec import Spec
from deepnet.spec.tune import DISTRIBUTIONS
from deepnet.train.losses import LOSSES
from deepnet.train.metrics import METRICS
from deepnet.train.optim import OPTIMIZERS, SCHEDULES

BASE = {"data": {"source": "digits"},
        "model": {"layers": [{"flatten": {}}, {"dense": {"units": 10}}]}}


def _problems(**sections):
    raw = copy.deepcopy(BASE) | sections
    with pytest.raises(SpecError) as e:
        Spec.from_dict(raw)
    return str(e.value)


@pytest.mark.parametrize("sections, path, typo, meant, registry", [
    ({"train": {"optimizer": "adma"}}, "train.optimizer.name", "adma", "adam", OPTIMIZERS),
    ({"train": {"loss": {"name": "cross_entropi"}}}, "train.loss.name", "cross_entropi",
     "cross_entropy", LOSSES),
    ({"train": {"schedule": "cosin"}}, "train.schedule.name", "cosin", "cosine", SCHEDULES),
    ({"train": {"metrics": ["accuracy", "acuracy"]}}, "train.metrics[1]", "acuracy",
     "accuracy", METRICS),
    ({"robust": {"attacks": [{"deepfol": {}}]}}, "robust.attacks[0]", "deepfol", "deepfool",
     ATTACKS),
    ({"data": {"source": "digits", "augment": [{"rotat": 10}]}}, "data.augment[0]", "rotat",
     "rotate", AUGMENTS),
    ({"model": {"layers": [{"dense": {"units": 3, "activation": "rlu"}}]}},
     "model.layers[0].dense.activation", "rlu", "relu", ACTIVATIONS),
    ({"model": {"layers": [{"dense": {"units": 3, "init": "orthogonl"}}]}},
     "model.layers[0].dense.init", "orthogonl", "orthogonal", INITS),
    ({"tune": {"space": {"train.optimizer.lr": {"logunifrm": [0.001, 0.1]}}}},
     "tune.space.train.optimizer.lr", "logunifrm", "loguniform", DISTRIBUTIONS),
])
def test_a_misspelt_name_in_each_section(sections, path, typo, meant, registry):
    msg = _problems(**sections)
    assert "1 problem in the spec" in msg
    assert (f"{path}: unknown {registry.kind} '{typo}' (did you mean '{meant}'?); "
            f"valid: {', '.join(registry.names)}") in msg


def test_every_misspelt_name_is_reported_at_once():
    msg = _problems(train={"optimizer": "adma", "schedule": "cosin", "metrics": ["f11"]},
                    robust={"attacks": ["pgdd"]})
    assert "4 problems" in msg
    for path in ("train.optimizer.name", "train.schedule.name", "train.metrics[0]",
                 "robust.attacks[0]"):
        assert f"\n  {path}: unknown " in msg


def test_registered_names_are_accepted_and_kept():
    spec = Spec.from_dict(copy.deepcopy(BASE) | {
        "train": {"optimizer": "rmsprop", "loss": "huber", "schedule": "plateau",
                  "metrics": ["mae", "r2"]},
        "robust": {"attacks": ["deepfool"]}, "task": "regression"})
    t = spec.train
    assert (t.optimizer.name, t.loss.name, t.schedule.name, t.metrics) == (
        "rmsprop", "huber", "plateau", ["mae", "r2"])
    assert spec.robust.attacks[0].method == "deepfool"


def test_per_name_facts_live_on_the_registry_entries():
    assert [n for n, o in OPTIMIZERS.items() if o.fused] == ["sgd", "adam", "adamw"]
    assert [OPTIMIZERS[n].state_factor(m) for n, m in
            (("sgd", 0), ("sgd", 0.9), ("adam", 0), ("rmsprop", 0), ("rmsprop", 0.9))] == \
        [0, 1, 2, 1, 2]
    assert {n: loss.task for n, loss in LOSSES.items()} == {
        "cross_entropy": "classification", "binary_cross_entropy": "classification",
        "mse": "regression", "mae": "regression", "huber": "regression"}
    assert [n for n, a in ATTACKS.items() if a.minimal] == ["cw", "deepfool"]
    assert {n: (a.norm, a.steps) for n, a in ATTACKS.items()} == {
        "fgsm": ("linf", None), "pgd": ("linf", 20), "apgd": ("linf", 100),
        "apgd-t": ("linf", 100), "fab": ("linf", 100), "square": ("linf", None),
        "autoattack": ("linf", 100), "cw": ("l2", 100), "deepfool": ("l2", 50)}
    assert [n for n, a in ATTACKS.items() if a.costly] == ["apgd-t", "fab", "square",
                                                          "autoattack"]
    assert [n for n, a in AUGMENTS.items()
            if a.matrix is None and a.wave is None and a.steps is None] == ["noise"]
    assert [n for n, a in AUGMENTS.items() if a.steps is not None] == [
        "roll", "slide", "window", "stretch"]
    assert [n for n, a in AUGMENTS.items() if a.wave is not None] == [
        "gain", "snr", "shift", "time_mask", "freq_mask"]
    assert ACTIVATIONS["relu"].init == "kaiming_normal"
    assert ACTIVATIONS["tanh"].init == "xavier_uniform"
