"""AutoAttack (Croce and Hein, 2020) and its parts: FAB's projection against
torchattacks', the composition (never weaker than its first part, each later part only
on the examples still standing), the command line, the after-training default, and
(slow) parity of APGD-T, FAB-T, Square and the whole with torchattacks on the digits CNN
(issue 15)."""

import json
from pathlib import Path

import pytest
import torch

import deepnet
from deepnet import attacks as A
from deepnet.attacks.auto import to_hyperplane
from deepnet.cli import main
from deepnet.robust import evaluate as E

EXAMPLE = Path(__file__).parents[2] / "examples" / "digits.yaml"
QUERIES = 1000  # Square's budget in the parity test below


def _accuracy(net, x, y) -> float:
    with torch.no_grad():
        return (A.logits(net, x).argmax(1) == y).float().mean().item()


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_projection_onto_the_boundary_matches_torchattacks(norm):
    """FAB's step: the smallest step onto the hyperplane w.z = b that stays in [0, 1],
    or the corner nearest it where the box cannot reach it; the same steps as
    torchattacks' sort-based projections, on points on both sides, reachable or not."""
    from torchattacks.attacks.fab import projection_l2, projection_linf

    g = torch.Generator().manual_seed(0)
    t = torch.rand(400, 64, generator=g, dtype=torch.float64)
    w = torch.randn(400, 64, generator=g, dtype=torch.float64)
    w[::7, ::3] = 0  # some coordinates the hyperplane does not depend on
    b = (w * t).sum(1) + torch.randn(400, generator=g, dtype=torch.float64) * 30
    ours = to_hyperplane(t, w, b, norm, (0.0, 1.0))
    ref = (projection_linf if norm == "linf" else projection_l2)(t, w, b)
    reach = (ours * w).sum(1) + (w * t).sum(1) - b
    inside = reach.abs() < 1e-9  # on the hyperplane: the reachable ones
    assert 100 < inside.sum() < 400  # both kinds are in the test
    assert (t + ours).min() >= -1e-12 and (t + ours).max() <= 1 + 1e-12
    assert torch.allclose(ours[inside], ref[inside], atol=1e-9)
    assert torch.allclose(A.norms(ours, norm), A.norms(ref, norm), atol=1e-9)


def test_autoattack_is_never_weaker_than_its_first_part(digits_run, digits_examples):
    """On examples the model gets right, the same generator gives AutoAttack's APGD-CE
    the same start as apgd alone; the later parts only add examples fooled. Every part
    keeps the eps-ball and the range."""
    net, (x, y) = digits_run.network(), digits_examples
    right = (A.logits(net, x).argmax(1) == y).detach()
    x, y, eps = x[right][:64], y[right][:64], 0.1
    first = A.apgd(net, x, y, eps, steps=5, generator=torch.Generator().manual_seed(1))
    full = A.autoattack(net, x, y, eps, steps=5, targets=2, queries=100,
                        generator=torch.Generator().manual_seed(1))
    assert A.norms(full - x, "linf").max() <= eps + 1e-6
    assert full.min() >= 0 and full.max() <= 1
    with torch.no_grad():
        fooled_first = A.logits(net, first).argmax(1) != y
        fooled_full = A.logits(net, full).argmax(1) != y
    assert (fooled_full | ~fooled_first).all()  # all that apgd fooled stay fooled
    assert fooled_full.sum() > fooled_first.sum()  # and the later parts add some


def test_square_needs_no_gradient(digits_run, digits_examples):
    """A score-based attack: through a network whose gradient is zero everywhere (a
    rounding of the input to 1/255) it still fools many examples."""
    class Rounded(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(torch.round(x * 255) / 255)

    net, (x, y) = Rounded(digits_run.network()), digits_examples
    x, y = x[:64], y[:64]
    g = torch.Generator().manual_seed(0)
    x.requires_grad_(True)
    (grad,) = torch.autograd.grad(A.logits(net, x).sum(), x)
    assert not grad.any()  # nothing for a gradient attack to follow
    x = x.detach()
    fooled = _accuracy(net, x, y) - _accuracy(net, A.square(net, x, y, 0.15, queries=300,
                                                            generator=g), y)
    assert fooled > 0.2


def test_attack_autoattack_on_the_command_line(digits_run, capsys):
    code = main(["attack", str(digits_run.path), "--method", "autoattack", "--eps", "0.1",
                 "--steps", "5", "--targets", "2", "--queries", "50", "--limit", "40",
                 "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    d = json.loads(out)
    assert d["method"] == "autoattack" and d["variant"] == "naive"
    assert d["options"] == {"steps": 5, "targets": 2, "queries": 50, "targeted": False}
    assert d["max_perturbation"] <= 0.1 + 1e-6 and d["robust_accuracy"] < d["clean_accuracy"]
    assert [e for e, _ in d["curve"]] == [0.0, 0.1]  # a costly attack: no extra runs
    # progress on stderr (plain lines: stderr is not a terminal), as the attack starts and ends
    assert "attack autoattack (naive), 40 examples: started" in err
    assert f"attack autoattack (naive), eps 0.1: robust accuracy {d['robust_accuracy']:.4f}" in err
    code = main(["attack", str(digits_run.path), "--method", "autoattack", "--targeted",
                 "--limit", "10"])
    assert code == 2 and "not targeted" in capsys.readouterr().err
    code = main(["attack", str(digits_run.path), "--method", "square", "--norm", "l2",
                 "--limit", "10"])
    assert code == 2 and "linf" in capsys.readouterr().err


def test_the_default_after_training_attack_is_autoattack():
    """A spec with a robust section and no attacks: the report's robustness figures come
    from AutoAttack at full budget, at the adversarial training's eps and norm (else
    linf 0.1); the whole path, trained, is in the slow test below."""
    def default(robust):
        return E._default_attack(deepnet.Spec.from_yaml(EXAMPLE, [f"robust={robust}"]).robust)

    plain = default("{limit: 30}")
    assert (plain.kind, plain.value.eps, plain.value.norm) == ("autoattack", 0.1, "linf")
    at = default("{defense: {adversarial_training: {eps: 0.5, norm: l2}}}")
    assert (at.kind, at.value.eps, at.value.norm) == ("autoattack", 0.5, "l2")


@pytest.mark.slow  # training, then AutoAttack at full budget on 30 examples: ~40 s
def test_the_report_shows_autoattack_after_training(tmp_path):
    spec = deepnet.Spec.from_yaml(EXAMPLE, ["train.epochs=2", "robust={limit: 30}"])
    run = deepnet.train(spec, out=tmp_path / "run", quiet=True)
    saved = json.loads((run.path / "robustness" / "results.json").read_text())
    (row,) = saved["attacks"]
    assert row["method"] == "autoattack" and row["eps"] == 0.1 and row["n"] == 30
    assert row["options"] == {"steps": 100, "targets": 9, "queries": 5000, "targeted": False}
    assert row["robust_accuracy"] < row["clean_accuracy"]
    report = (run.path / "report.html").read_text()
    assert "autoattack (naive)" in report and "100 steps, 9 targets, 5000 queries" in report


# ----------------------------------------------------------------------------- parity (slow)
@pytest.mark.slow  # AutoAttack's parts, ours and torchattacks', at 2 eps: about 2 min
@pytest.mark.parametrize("eps", [0.1, 0.2])
def test_autoattack_parts_match_torchattacks(digits_run, digits_examples, eps):
    """On the digits CNN's 269-row test split, each part against torchattacks 3.5 with
    the same budget (100 steps, 9 targets; Square at 1000 queries, not the default 5000:
    both rescale their square-size schedule to the budget, and the full one tripled the
    test's time, the longest of the suite): APGD-T within 0.5 points; FAB-T
    (no random start: deterministic) within 0.5 points; Square never weaker (torchattacks
    draws one square for the whole batch and never at the last row or column, which on
    8x8 images keeps its first squares in one place: ours is stronger); and AutoAttack
    never weaker than an example fooled by any of torchattacks' four parts."""
    import torchattacks

    net, (x, y) = digits_run.network(), digits_examples
    assert E.valid_range(digits_run) == (0.0, 1.0)  # torchattacks' assumption
    g = torch.Generator().manual_seed(0)
    ours = {"apgd-t": A.apgd_t(net, x, y, eps, generator=g),
            "fab": A.fab(net, x, y, eps, generator=g),
            "square": A.square(net, x, y, eps, queries=QUERIES, generator=g),
            "autoattack": A.autoattack(net, x, y, eps, queries=QUERIES, generator=g)}
    theirs = {
        "apgd-ce": torchattacks.APGD(net, eps=eps, steps=100, n_restarts=1, seed=0),
        "apgd-t": torchattacks.APGDT(net, eps=eps, steps=100, n_restarts=1, n_classes=10,
                                     seed=0),
        "fab": torchattacks.FAB(net, eps=eps, steps=100, n_restarts=1, multi_targeted=True,
                                n_classes=10, seed=0),
        "square": torchattacks.Square(net, eps=eps, n_queries=QUERIES, n_restarts=1, seed=0)}
    standing = torch.ones(len(y), dtype=torch.bool)
    acc = {}
    for name, attack in theirs.items():
        adv = attack(x, y)
        with torch.no_grad():
            ok = A.logits(net, adv).argmax(1) == y
        standing &= ok
        acc[name] = ok.float().mean().item()
    acc["autoattack"] = standing.float().mean().item()
    for name, adv in ours.items():
        assert A.norms(adv - x, "linf").max().item() <= eps + 1e-6, name
        assert adv.min() >= 0 and adv.max() <= 1, name
    mine = {name: _accuracy(net, adv, y) for name, adv in ours.items()}
    print(f"eps {eps}: ours {mine} torchattacks {acc}")
    assert abs(mine["apgd-t"] - acc["apgd-t"]) <= 0.005, (mine, acc)
    assert abs(mine["fab"] - acc["fab"]) <= 0.005, (mine, acc)
    assert mine["square"] <= acc["square"] + 0.005, (mine, acc)
    assert mine["autoattack"] <= acc["autoattack"] + 0.005, (mine, acc)


def test_untargeted_attacks_are_refused_in_the_spec_before_training():
    """targeted: true for AutoAttack or its parts, and square in l2, are spec errors (exit
    2 before any training), not a failure after it."""
    from deepnet.core.errors import SpecError

    for attack, words in (("{autoattack: {targeted: true}}", "not targeted"),
                          ("{fab: {targeted: true, eps: 0.1}}", "not targeted"),
                          ("{square: {norm: l2}}", "linf")):
        with pytest.raises(SpecError, match=words) as e:
            deepnet.Spec.from_yaml(EXAMPLE, [f"robust={{attacks: [{attack}]}}"])
        assert "robust.attacks[0]" in str(e.value)


def test_empty_batches_and_binary_distillation(digits_run):
    net, x = digits_run.network(), torch.zeros(0, 1, 8, 8)
    y = torch.zeros(0, dtype=torch.long)
    for attack in (A.autoattack, A.apgd_t, A.fab, A.square):
        assert attack(net, x, y, 0.1).shape == (0, 1, 8, 8)
    # DLR needs 3 classes: a distilled binary model gets APGD on the logit margin instead
    from types import SimpleNamespace

    spec = deepnet.Spec.from_yaml(EXAMPLE, ["robust={defense: {distillation: 20}}"])
    for classes, loss in ((["a", "b"], "margin"), (["a", "b", "c"], "dlr")):
        run = SimpleNamespace(spec=spec, classes=classes)
        full = [a for a in E.adaptive_attacks(run, "autoattack", 0.1, {}) if a[1] == "apgd"]
        assert [opts["loss"] for _, _, _, opts, _ in full] == [loss]
