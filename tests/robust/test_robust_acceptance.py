"""The robustness figures the README states, on the digits CNN (its 269-row test split)."""

import torch

import deepnet


def test_pgd_linf_eps03_leaves_at_most_5_percent(digits_run, digits_examples):
    r = deepnet.attack(digits_run, "pgd", eps=0.3, steps=20, examples=digits_examples)
    assert r.clean_accuracy >= 0.95
    assert r.robust_accuracy <= 0.05, r.to_dict()


def test_fgsm_eps03_costs_at_least_50_points(digits_run, digits_examples):
    r = deepnet.attack(digits_run, "fgsm", eps=0.3, examples=digits_examples)
    assert r.clean_accuracy - r.robust_accuracy >= 0.50, r.to_dict()


def test_targeted_pgd_towards_next_class(digits_run, digits_examples):
    r = deepnet.attack(digits_run, "pgd", eps=0.3, targeted=True, target="next",
                       examples=digits_examples)
    _, y = digits_examples
    assert torch.equal(r.goal, (y + 1) % 10)
    assert r.success_rate >= 0.90, r.to_dict()
    assert (r.adv_pred == r.goal).float().mean().item() >= 0.90


def test_result_dict_has_the_json_keys(digits_run, digits_examples):
    d = deepnet.attack(digits_run, "fgsm", eps=0.1, examples=digits_examples).to_dict()
    for key in ("method", "eps", "clean_accuracy", "robust_accuracy", "success_rate",
                "max_perturbation", "mean_perturbation", "norm"):
        assert key in d
    assert d["method"] == "fgsm" and d["eps"] == 0.1 and d["norm"] == "linf"
