"""Auto-PGD (Croce and Hein, 2020), the gradient attack of AutoAttack: its DLR loss, its
strength beside PGD, the command line, and (slow) parity with torchattacks' APGD on the
digits CNN at eps 0.1 and 0.2 (issue 15: within 0.5 points)."""

import json

import pytest
import torch

from deepnet import attacks as A
from deepnet.cli import main
from deepnet.robust import evaluate as E


def _accuracy(net, x, y) -> float:
    with torch.no_grad():
        return (A.logits(net, x).argmax(1) == y).float().mean().item()


def test_dlr_is_the_margin_over_the_spread_of_the_top_logits():
    z = torch.tensor([[3.0, 1.0, 0.0, -1.0], [0.5, 2.0, 1.5, 0.0]])
    y = torch.tensor([0, 0])
    # first: right, margin 3 - 1 over spread 3 - 0; second: wrong, 2 - 0.5 over 2 - 0.5
    assert A.attack_loss(z, y, False, "dlr").tolist() == pytest.approx([-2 / 3, 1.0])
    # scale- and shift-invariant, unlike the cross-entropy
    assert A.attack_loss(7 * z + 3, y, False, "dlr").tolist() == pytest.approx([-2 / 3, 1.0])
    with pytest.raises(ValueError, match="untargeted"):
        A.attack_loss(z, y, True, "dlr")
    with pytest.raises(ValueError, match="3 or more classes"):
        A.attack_loss(z[:, :2], y, False, "dlr")


def test_apgd_is_at_least_as_strong_as_pgd(digits_run, digits_examples):
    """100 steps of APGD without a step size to tune against PGD-20 from the defaults, on
    the same examples: it finds at least as many adversarial examples."""
    net, (x, y) = digits_run.network(), digits_examples
    x, y = x[:128], y[:128]
    g = torch.Generator().manual_seed(0)
    for eps in (0.1, 0.2):
        pgd = A.pgd(net, x, y, eps, steps=20, generator=g)
        apgd = A.apgd(net, x, y, eps, steps=100, generator=g)
        assert _accuracy(net, apgd, y) <= _accuracy(net, pgd, y), eps
    # the same seed gives the same examples
    runs = [A.apgd(net, x, y, 0.1, steps=10, generator=torch.Generator().manual_seed(3))
            for _ in range(2)]
    assert torch.equal(*runs)


def test_attack_apgd_dlr_on_the_command_line(digits_run, capsys):
    code = main(["attack", str(digits_run.path), "--method", "apgd", "--loss", "dlr",
                 "--eps", "0.1", "--limit", "40", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    d = json.loads(out)
    assert d["method"] == "apgd" and d["options"]["loss"] == "dlr"
    assert d["options"]["steps"] == 100 and d["options"]["restarts"] == 1
    assert d["max_perturbation"] <= 0.1 + 1e-6
    code = main(["attack", str(digits_run.path), "--method", "apgd", "--loss", "dlr",
                 "--targeted", "--limit", "10"])
    assert code == 2 and "untargeted" in capsys.readouterr().err


@pytest.mark.slow  # 2 eps x 2 losses x 3 seeds of 100 steps, ours and torchattacks': ~2 min
@pytest.mark.parametrize("eps", [0.1, 0.2])
@pytest.mark.parametrize("loss", ["ce", "dlr"])
def test_apgd_matches_torchattacks(digits_run, digits_examples, eps, loss):
    """Robust accuracy of the digits CNN's test split under APGD, ours against
    torchattacks' (an independent implementation of the paper), each a mean over 3 seeds
    of 1 restart: ours never weaker by more than 0.5 points, and within 1 point either
    way. One example of the 269 is 0.37 points, and the random starts differ: measured,
    ours minus theirs -0.62 (eps 0.1, CE), 0.00 (0.2, CE), -0.12 (0.1, DLR), -0.12 (0.2,
    DLR) points."""
    import torchattacks

    net, (x, y) = digits_run.network(), digits_examples
    assert E.valid_range(digits_run) == (0.0, 1.0)  # torchattacks' assumption
    ours, theirs = [], []
    for seed in range(3):
        adv = A.apgd(net, x, y, eps, steps=100, loss=loss,
                     generator=torch.Generator().manual_seed(seed))
        assert A.norms(adv - x, "linf").max().item() <= eps + 1e-6
        ours.append(_accuracy(net, adv, y))
        ref = torchattacks.APGD(net, norm="Linf", eps=eps, steps=100, n_restarts=1, loss=loss,
                                seed=seed)
        theirs.append(_accuracy(net, ref(x, y), y))
    mean_ours, mean_theirs = sum(ours) / 3, sum(theirs) / 3
    print(f"eps {eps} APGD-{loss.upper()}: ours {ours} theirs {theirs}")
    assert mean_ours <= mean_theirs + 0.005, (ours, theirs)  # not weaker
    assert abs(mean_ours - mean_theirs) <= 0.01, (ours, theirs)
