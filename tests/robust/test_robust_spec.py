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
    ({"attacks": [{"pgdd": {"eps": 0.1}}]}, "unknown key 'pgdd' (did you mean 'pgd'?)"),
    ({"attacks": [{"pgd": {"eps": -1}}]}, "robust.attacks[0].pgd.eps"),
    ({"attacks": [{"pgd": {}, "fgsm": {}}]}, "each attack is one of"),
    ({"attacks": [{"pgd": {"target": "sideways"}}]}, "robust.attacks[0].pgd.target"),
    ({"defense": {"adversarial_training": {"ratio": 1.5}}},
     "robust.defense.adversarial_training.ratio"),
    ({"defense": {"adversarial_training": {"method": "cw"}}},
     "robust.defense.adversarial_training.method"),
    ({"defense": {"distillation": {"temperature": 0.5}}},
     "robust.defense.distillation.temperature"),
    ({"defense": {"input_transform": {}}}, "give bit_depth"),
    ({"defense": {"adversarial": {}}}, "did you mean 'adversarial_training'"),
])
def test_bad_robust_sections_name_the_path(robust, fragment):
    with pytest.raises(SpecError) as e:
        _spec(robust)
    assert fragment in str(e.value)
