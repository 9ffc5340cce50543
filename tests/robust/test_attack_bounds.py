"""Every attack keeps each adversarial example within eps of its original (in its norm)
and inside the data's valid range; reruns with the same seed give the same examples."""

import pytest
import torch

from deepnet import attacks as A
from deepnet.robust import evaluate as E

TOL = 1e-5


@pytest.fixture(scope="module")
def batch(digits_run, digits_examples):
    x, y = digits_examples
    return digits_run.network(), x[:64], y[:64], E.valid_range(digits_run)


def _within(x, x_adv, eps, norm, bounds):
    lo, hi = bounds
    assert x_adv.shape == x.shape and torch.isfinite(x_adv).all()
    assert x_adv.min().item() >= lo - 1e-7 and x_adv.max().item() <= hi + 1e-7
    if eps is not None:
        assert A.norms(x_adv - x, norm).max().item() <= eps + TOL


def test_valid_range_is_the_pixel_range(digits_run):
    assert E.valid_range(digits_run) == (0.0, 1.0)


@pytest.mark.parametrize("method, eps, options", [
    ("fgsm", 0.2, {"norm": "linf"}),
    ("fgsm", 1.0, {"norm": "l2"}),
    ("fgsm", 0.1, {"norm": "linf", "random_start": True}),
    ("pgd", 0.2, {"norm": "linf", "steps": 10}),
    ("pgd", 1.0, {"norm": "l2", "steps": 10, "restarts": 2}),
    ("pgd", 0.2, {"norm": "linf", "steps": 10, "targeted": True}),
    ("pgd", 0.3, {"norm": "linf", "steps": 10, "loss": "margin"}),
    ("apgd", 0.2, {"norm": "linf", "steps": 10}),
    ("apgd", 1.0, {"norm": "l2", "steps": 10, "restarts": 2}),
    ("apgd", 0.1, {"norm": "linf", "steps": 10, "loss": "dlr"}),
    ("apgd", 0.2, {"norm": "linf", "steps": 10, "targeted": True}),
    ("apgd-t", 0.1, {"norm": "linf", "steps": 10, "targets": 2}),
    ("apgd-t", 1.0, {"norm": "l2", "steps": 10, "targets": 2}),
    ("fab", 0.1, {"norm": "linf", "steps": 10, "targets": 2}),
    ("fab", 1.0, {"norm": "l2", "steps": 10, "targets": 2, "restarts": 2}),
    ("square", 0.1, {"queries": 200}),
    ("autoattack", 0.1, {"steps": 5, "targets": 2, "queries": 100}),
    ("autoattack", 1.0, {"norm": "l2", "steps": 5, "targets": 2}),
    ("cw", 0.8, {"steps": 30, "search_steps": 2}),
    ("cw", None, {"steps": 30, "search_steps": 1}),
    ("cw", 1.0, {"steps": 30, "search_steps": 1, "targeted": True}),
    ("deepfool", 0.8, {"norm": "l2", "steps": 20}),
    ("deepfool", 0.15, {"norm": "linf", "steps": 20}),
    ("deepfool", None, {"norm": "l2", "steps": 20, "targeted": True}),
])
def test_each_attack_stays_in_eps_ball_and_range(batch, method, eps, options):
    net, x, y, bounds = batch
    norm = options.get("norm", A.ATTACKS[method].norm)
    goal = (y + 1) % 10 if options.get("targeted") else y
    g = torch.Generator().manual_seed(0)
    x_adv = A.get(method)(net, x, goal, eps, bounds=bounds, generator=g, **options)
    _within(x, x_adv, eps, norm, bounds)
    assert not torch.equal(x_adv, x)  # it did something


def test_attacks_change_predictions_within_the_budget(batch):
    net, x, y, bounds = batch
    for method, eps in (("cw", None), ("deepfool", None)):
        x_adv = A.get(method)(net, x, y, eps, bounds=bounds, steps=50)
        with torch.no_grad():
            fooled = (A.logits(net, x_adv).argmax(1) != y).float().mean().item()
        assert fooled >= 0.9, method


def test_same_seed_same_examples(batch):
    net, x, y, bounds = batch
    runs = [A.pgd(net, x, y, 0.1, steps=3, bounds=bounds,
                  generator=torch.Generator().manual_seed(5)) for _ in range(2)]
    assert torch.equal(runs[0], runs[1])


def test_restarts_never_weaker_than_one_start(batch):
    net, x, y, bounds = batch

    def fooled(xa):
        with torch.no_grad():
            return (A.logits(net, xa).argmax(1) != y).sum().item()

    with torch.no_grad():  # attacks turn gradients on themselves
        one = A.pgd(net, x, y, 0.08, steps=5, bounds=bounds,
                    generator=torch.Generator().manual_seed(1))
    three = A.pgd(net, x, y, 0.08, steps=5, restarts=3, bounds=bounds,
                  generator=torch.Generator().manual_seed(1))
    assert fooled(three) >= fooled(one)


def test_pick_targets(batch):
    net, x, y, _ = batch
    assert torch.equal(A.pick_targets(net, x, y, "next", 10), (y + 1) % 10)
    assert torch.equal(A.pick_targets(net, x, y, 3, 10), torch.full_like(y, 3))
    rnd = A.pick_targets(net, x, y, "random", 10, torch.Generator().manual_seed(0))
    assert (rnd != y).all() and rnd.min() >= 0 and rnd.max() < 10
    least = A.pick_targets(net, x, y, "least_likely", 10)
    with torch.no_grad():
        assert torch.equal(least, A.logits(net, x).argmin(1))
    with pytest.raises(ValueError, match="out of range"):
        A.pick_targets(net, x, y, 12, 10)


def test_bad_arguments_are_value_errors(batch):
    net, x, y, bounds = batch
    with pytest.raises(ValueError, match="valid: fgsm, pgd, apgd, apgd-t, fab, square, "
                       "autoattack, cw, deepfool"):
        A.get("pgdd")
    with pytest.raises(ValueError, match="norm"):
        A.pgd(net, x, y, 0.1, norm="l3")
    with pytest.raises(ValueError, match="eps"):
        A.fgsm(net, x, y, -0.1)
    with pytest.raises(ValueError, match="l2 attack"):
        A.cw(net, x, y, norm="linf")
    for attack in (A.autoattack, A.apgd_t, A.fab, A.square):
        with pytest.raises(ValueError, match="not targeted"):
            attack(net, x, y, 0.1, targeted=True)
    with pytest.raises(ValueError, match="linf"):
        A.square(net, x, y, 1.0, norm="l2")
