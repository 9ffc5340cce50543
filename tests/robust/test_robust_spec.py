"""The spec's `robust` section: attacks and defenses, validated with paths."""

import pytest

from deepnet.core.errors import SpecError
from deepnet.spec import Spec

BASE = {"data": {"source": "digits"}, "model": {"layers": [{"flatten": {}},
                                                           {"dense": {"units": 10}}]}}


def _spec(robust):
    return Spec.from_dict({**BASE, "robust": robust})


def test_full_robust_section_round_trips():
    spec = _spec({"attacks": [{"pgd": {"eps": 0.1, "steps": 40}}, {"fgsm": 0.3}, "cw",
                              {"deepfool": {"norm": "linf"}}],
                  "defense": {"adversarial_training": {"method": "pgd", "eps": 0.1,
                                                       "steps": 5, "ratio": 0.5},
                              "distillation": 20,
                              "input_transform": {"bit_depth": 4, "smoothing": 2}}})
    r = spec.robust
    assert [a.method for a in r.attacks] == ["pgd", "fgsm", "cw", "deepfool"]
    assert r.attacks[0].args.steps == 40 and r.attacks[1].args.eps == 0.3
    assert r.defense.distillation.temperature == 20
    assert r.defense.adversarial_training.ratio == 0.5
    again = Spec.from_dict(spec.to_dict())
    assert again.to_dict() == spec.to_dict()


def test_overrides_reach_robust_keys():
    spec = Spec.from_dict({**BASE, "robust": {"defense": {"distillation": 20}}},
                          ["robust.defense.distillation.temperature=50"])
    assert spec.robust.defense.distillation.temperature == 50


@pytest.mark.parametrize("robust, fragment", [
    ({"attacks": [{"pgdd": {"eps": 0.1}}]}, "unknown attack 'pgdd' (did you mean 'pgd'?)"),
    ({"attacks": [{"pgd": {"eps": -1}}]}, "robust.attacks[0].pgd.eps"),
    ({"attacks": [{"pgd": {}, "fgsm": {}}]}, "each attack is exactly one of"),
    ({"attacks": [{"pgd": {"target": "sideways"}}]}, "robust.attacks[0].pgd.target"),
    ({"defense": {"adversarial_training": {"ratio": 1.5}}},
     "robust.defense.adversarial_training.ratio"),
    ({"defense": {"adversarial_training": {"method": "cw"}}},
     "robust.defense.adversarial_training.method"),
    ({"defense": {"adversarial_training": {"method": "cw"}}},
     "unknown adversarial training attack 'cw'"),
    ({"defense": {"adversarial_training": {"method": "pdg"}}}, "(did you mean 'pgd'?)"),
    ({"defense": {"distillation": {"temperature": 0.5}}},
     "robust.defense.distillation.temperature"),
    ({"defense": {"input_transform": {}}}, "give bit_depth"),
    ({"defense": {"adversarial": {}}}, "did you mean 'adversarial_training'"),
])
def test_bad_robust_sections_name_the_path(robust, fragment):
    with pytest.raises(SpecError) as e:
        _spec(robust)
    assert fragment in str(e.value)


# ----------------------------------------------------------------------------- each attack's options
@pytest.mark.parametrize("item, option, valid", [
    ({"cw": {"restarts": 3}}, "restarts", "c, curve, eps, kappa, lr, norm, steps, target, targeted"),
    ({"fgsm": {"steps": 5}}, "steps", "alpha, curve, eps, loss, norm, target, targeted"),
    ({"deepfool": {"loss": "margin"}}, "loss", "curve, eps, norm, overshoot, steps, target"),
    ({"pgd": {"overshoot": 0.1}}, "overshoot", "alpha, curve, eps, loss, norm, random_start"),
])
def test_an_option_the_attack_does_not_take_is_named(item, option, valid):
    with pytest.raises(SpecError) as e:
        _spec({"attacks": ["pgd", item]})
    method = next(iter(item))
    assert f"robust.attacks[1].{method}.{option}: unknown key '{option}'" in str(e.value)
    assert f"valid keys here: {valid}" in str(e.value)


def test_each_attack_keeps_only_its_own_options():
    spec = _spec({"attacks": [{"cw": {"c": 2.0}}, {"deepfool": 0.5}]})
    cw, deepfool = spec.to_dict()["robust"]["attacks"]
    assert set(cw["cw"]) == {"eps", "norm", "targeted", "target", "curve", "steps", "c",
                             "kappa", "lr"} and cw["cw"]["c"] == 2.0
    assert deepfool["deepfool"]["eps"] == 0.5 and "restarts" not in deepfool["deepfool"]
    assert spec.robust.attacks[0].args.options() == {
        "steps": None, "c": 2.0, "kappa": 0.0, "lr": 0.1, "targeted": False}


def test_cw_refuses_linf_in_the_spec():
    with pytest.raises(SpecError, match=r"robust\.attacks\[0\]\.cw: cw is an l2 attack"):
        _spec({"attacks": [{"cw": {"norm": "linf"}}]})


def test_attack_api_refuses_an_option_the_attack_does_not_take(digits_run):
    import deepnet

    with pytest.raises(SpecError) as e:
        deepnet.attack(digits_run, "cw", restarts=3)
    assert str(e.value).startswith("cw attack: 1 problem in the spec:\n  restarts: unknown "
                                   "key 'restarts'; valid keys here: c, curve, eps, kappa")
    with pytest.raises(SpecError, match="steps: unknown key 'steps'"):
        deepnet.attack(digits_run, "fgsm", eps=0.1, steps=3)
    r = deepnet.attack(digits_run, "fgsm", eps=0.1, limit=16, loss="margin")
    assert r.options == {"alpha": None, "loss": "margin", "targeted": False}
    r = deepnet.attack(digits_run, "pgd", eps=0.1, limit=16, steps=2, targeted=True)
    assert r.options == {"steps": 2, "restarts": 1, "alpha": None, "random_start": True,
                         "loss": "ce", "targeted": True, "target": "next"}
