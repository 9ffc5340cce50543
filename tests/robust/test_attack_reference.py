"""FGSM and PGD (no random start) equal independent reference implementations within
1e-6: a plain one written here, and torchattacks where it is installed."""

import pytest
import torch
import torch.nn.functional as F

from deepnet import attacks as A


def reference_fgsm(model, x, y, eps):
    x = x.clone().detach().requires_grad_(True)
    loss = F.cross_entropy(model(x), y)
    (grad,) = torch.autograd.grad(loss, x)
    return torch.clamp(x + eps * grad.sign(), 0, 1).detach()


def reference_pgd(model, x, y, eps, alpha, steps):
    adv = x.clone().detach()
    for _ in range(steps):
        adv.requires_grad_(True)
        loss = F.cross_entropy(model(adv), y)
        (grad,) = torch.autograd.grad(loss, adv)
        adv = adv.detach() + alpha * grad.sign()
        delta = torch.clamp(adv - x, min=-eps, max=eps)
        adv = torch.clamp(x + delta, 0, 1).detach()
    return adv


@pytest.fixture(scope="module")
def setup(digits_run, digits_examples):
    x, y = digits_examples
    return digits_run.network(), x, y


@pytest.mark.parametrize("eps", [0.05, 0.3])
def test_fgsm_equals_reference(setup, eps):
    net, x, y = setup
    ours = A.fgsm(net, x, y, eps, bounds=(0.0, 1.0))
    assert (ours - reference_fgsm(net, x, y, eps)).abs().max().item() <= 1e-6


@pytest.mark.parametrize("eps, alpha, steps", [(0.1, 0.01, 10), (0.3, 2 / 255, 20)])
def test_pgd_without_random_start_equals_reference(setup, eps, alpha, steps):
    net, x, y = setup
    ours = A.pgd(net, x, y, eps, alpha=alpha, steps=steps, random_start=False,
                 bounds=(0.0, 1.0))
    ref = reference_pgd(net, x, y, eps, alpha, steps)
    assert (ours - ref).abs().max().item() <= 1e-6


def test_equal_torchattacks(setup):
    """An independent implementation (a dev dependency) gives the same examples."""
    import torchattacks

    net, x, y = setup
    ref = torchattacks.FGSM(net, eps=0.1)(x, y)
    assert (A.fgsm(net, x, y, 0.1) - ref).abs().max().item() <= 1e-6
    ref = torchattacks.PGD(net, eps=0.3, alpha=0.01, steps=20, random_start=False)(x, y)
    ours = A.pgd(net, x, y, 0.3, alpha=0.01, steps=20, random_start=False)
    assert (ours - ref).abs().max().item() <= 1e-6
