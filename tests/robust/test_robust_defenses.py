"""Defenses: adversarial training, defensive distillation (with the adaptive CW attack
beside the naive one), input transformations (with BPDA) and ensembles."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import deepnet
from deepnet import attacks as A
from deepnet.data.transforms import SqueezedPreprocess, squeeze
from deepnet.robust import evaluate as E
from deepnet.robust.defenses import AdversarialBatches
from deepnet.spec import AdversarialTraining

EXAMPLE = Path(__file__).parents[2] / "examples" / "digits.yaml"


def _train(tmp_path, name, overrides):
    spec = deepnet.Spec.from_yaml(EXAMPLE, overrides)
    return deepnet.train(spec, out=tmp_path / name, quiet=True)


def _saved(run) -> list[dict]:
    return json.loads((run.path / "robustness" / "results.json").read_text())["attacks"]


# ----------------------------------------------------------------------------- adversarial training
def test_adversarial_batches_stay_in_raw_eps_ball(digits_run, digits_examples):
    x, y = digits_examples
    pre = digits_run.preprocess
    xb = torch.as_tensor(pre(x[:32].numpy()))

    class T:  # what the hook reads from the Trainer
        model = digits_run.model
        augment_rng = torch.Generator().manual_seed(0)

    for method in ("fgsm", "pgd"):
        cfg = AdversarialTraining(eps=0.1, method=method, ratio=0.5, steps=3)
        out, yy = AdversarialBatches(cfg, pre, (0.0, 1.0))(T(), xb, y[:32])
        raw = out * torch.as_tensor(pre.scale) + torch.as_tensor(pre.shift)
        assert torch.equal(yy, y[:32]) and torch.equal(out[16:], xb[16:])
        d = (raw[:16] - x[:16]).abs().amax()
        assert 0 < d.item() <= 0.1 + 1e-5
        assert raw.min() >= -1e-5 and raw.max() <= 1 + 1e-5


def test_adversarial_batches_call_the_attack_as_before(digits_run, digits_examples):
    """The training attack comes from attacks.TRAINING_ATTACKS with the same arguments as
    the direct calls: fast FGSM from a random start, PGD with the configured steps."""
    x, y = digits_examples
    pre = digits_run.preprocess
    xb = torch.as_tensor(pre(x[:16].numpy()))
    net = torch.nn.Sequential(AdversarialBatches(AdversarialTraining(), pre, (0, 1)).norm,
                              digits_run.model)
    raw = xb * torch.as_tensor(pre.scale) + torch.as_tensor(pre.shift)
    direct = {
        "fgsm": lambda g: A.fgsm(net, raw, y[:16], 0.1, norm="l2", random_start=True,
                                 alpha=0.05, bounds=(0.0, 1.0), generator=g),
        "pgd": lambda g: A.pgd(net, raw, y[:16], 0.1, norm="l2", steps=3, alpha=0.05,
                               bounds=(0.0, 1.0), generator=g),
    }
    assert A.TRAINING_ATTACKS.names == ("fgsm", "pgd")
    for method, call in direct.items():
        cfg = AdversarialTraining(eps=0.1, method=method, norm="l2", steps=3, alpha=0.05)

        class T:  # what the hook reads from the Trainer
            model = digits_run.model
            augment_rng = torch.Generator().manual_seed(3)

        out, _ = AdversarialBatches(cfg, pre, (0.0, 1.0))(T(), xb, y[:16])
        expected = call(torch.Generator().manual_seed(3))
        shift, scale = torch.as_tensor(pre.shift), torch.as_tensor(pre.scale)
        assert torch.equal(out, ((expected - shift) / scale).to(xb.dtype)), method


def test_adversarial_examples_are_made_in_eval_mode(digits_run, digits_examples):
    """As in the literature: the attack sees the network in eval mode (no dropout, batch
    norm on its running statistics, which the attack steps leave unchanged); the network
    is back in train mode for the training step."""
    import copy

    x, y = digits_examples
    pre = digits_run.preprocess
    xb = torch.as_tensor(pre(x[:32].numpy()))
    model = copy.deepcopy(digits_run.model)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert any(isinstance(m, torch.nn.Dropout) for m in model.modules())
    buffers = {k: v.clone() for k, v in model.named_buffers()}
    cfg = AdversarialTraining(eps=0.1, method="pgd", ratio=1.0, steps=5)

    def made(train_mode: bool) -> torch.Tensor:
        class T:  # what the hook reads from the Trainer
            augment_rng = torch.Generator().manual_seed(0)

        T.model = model.train(train_mode)
        out, _ = AdversarialBatches(cfg, pre, (0.0, 1.0))(T(), xb, y[:32])
        assert model.training == train_mode  # restored for the training step
        return out

    in_training, again, from_eval = made(True), made(True), made(False)
    assert all(torch.equal(v, buffers[k]) for k, v in model.named_buffers())
    # dropout off and fixed statistics: the same examples as from a network in eval mode
    assert torch.equal(in_training, again) and torch.equal(in_training, from_eval)
    assert not torch.equal(in_training, xb)


def test_adversarial_training_short_run(tmp_path, digits_run, digits_examples):
    """The cheap default check: a few epochs of fast FGSM training already resist PGD
    at eps 0.1 better than the plain model."""
    run = _train(tmp_path, "adv", ["train.epochs=8", "robust={defense: {adversarial_training: "
                                   "0.1}, attacks: [{pgd: {eps: 0.1, curve: [0.1]}}]}"])
    plain = deepnet.attack(digits_run, "pgd", eps=0.1, examples=digits_examples)
    hard = deepnet.attack(run, "pgd", eps=0.1, examples=digits_examples)
    assert hard.robust_accuracy > plain.robust_accuracy + 0.1, (hard, plain)
    assert "Robustness: attacks" in (run.path / "report.html").read_text()


@pytest.mark.slow
def test_adversarial_training_eps01_acceptance(tmp_path, digits_examples):
    """PGD-3 adversarial training (fast FGSM, the default, gives about 0.82 here)."""
    run = _train(tmp_path, "adv", [
        "robust={defense: {adversarial_training: {method: pgd, eps: 0.1, steps: 3}}, "
        "attacks: [{pgd: {eps: 0.1, steps: 40, curve: [0.1]}}]}"])
    r = deepnet.attack(run, "pgd", eps=0.1, steps=40, examples=digits_examples)
    assert r.clean_accuracy >= 0.95, r.to_dict()
    assert r.robust_accuracy >= 0.80, r.to_dict()


# ----------------------------------------------------------------------------- distillation
@pytest.mark.slow  # run by .ci/run after the default suite (30 s)
def test_distillation_t20_naive_drops_cw_still_succeeds(tmp_path, digits_run):
    run = _train(tmp_path, "distilled", [
        "robust={defense: {distillation: 20}, attacks: [{pgd: {eps: 0.3, curve: [0.3]}}], "
        "limit: 100}"])
    assert (run.path / "teacher.safetensors").is_file()
    assert run.results.test["accuracy"] >= 0.9
    rows = {r["variant"]: r for r in _saved(run)}
    naive, cw = rows["naive"], rows["CW on logits"]
    examples = E.test_examples(digits_run, 100)
    plain = deepnet.attack(digits_run, "pgd", eps=0.3, examples=examples)
    assert naive["success_rate"] < plain.success_rate - 0.3, (naive, plain.to_dict())
    assert cw["success_rate"] >= 0.90, cw
    assert rows["pgd on the logit margin"]["success_rate"] >= 0.90
    report = (run.path / "report.html").read_text()
    assert "naive and adaptive attacks" in report and "CW on logits" in report
    assert "adaptive: CW on logits" in report and "naive pgd" in report


# ----------------------------------------------------------------------------- input transforms
def test_squeeze_bit_depth_and_median():
    x = torch.tensor([[[[0.0, 0.2, 0.49], [0.51, 0.8, 1.0], [1.0, 1.0, 0.0]]]])
    assert torch.equal(squeeze(x, 1, None, (0.0, 1.0)),
                       torch.tensor([[[[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [1.0, 1.0, 0.0]]]]))
    smooth = squeeze(x, None, 3, (0.0, 1.0))
    assert smooth.shape == x.shape and smooth[0, 0, 1, 1].item() == pytest.approx(0.51)


def test_input_transform_naive_vs_bpda_and_predict_uses_it(tmp_path):
    run = _train(tmp_path, "squeezed", [
        "train.epochs=6", "robust={defense: {input_transform: {bit_depth: 1}}, "
        "attacks: [{pgd: {eps: 0.3, curve: [0.3]}}], limit: 100}"])
    loaded = deepnet.load(run.path)
    assert isinstance(loaded.preprocess, SqueezedPreprocess)
    rows = {r["variant"]: r for r in _saved(run)}
    naive, bpda = rows["naive"], rows["BPDA through the input transform"]
    assert bpda["robust_accuracy"] < naive["robust_accuracy"] - 0.2, (naive, bpda)
    x, _ = E.test_examples(loaded, 50)
    with torch.no_grad():
        via_net = A.logits(loaded.network(), x).argmax(1).numpy()
    assert (loaded.predict(x).astype(int) == via_net).all()
    report = (run.path / "report.html").read_text()
    assert "BPDA" in report


# ----------------------------------------------------------------------------- ensembles
def test_ensemble_evaluate_predict_attack(tmp_path, digits_run, capsys, mlp_spec_dict):
    from deepnet.app.predict import predict_file
    from deepnet.app.train import evaluate_run
    from deepnet.cli import main

    other = deepnet.train(deepnet.Spec.from_dict(mlp_spec_dict), out=tmp_path / "mlp",
                          quiet=True)
    code = main(["ensemble", str(digits_run.path), str(other.path), "--out",
                 str(tmp_path / "ens"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["test"]["accuracy"] > 0.8
    report = (tmp_path / "ens" / "report.html").read_text()
    assert "Ensemble members" in report and str(other.path) in report
    ens = deepnet.load(tmp_path / "ens")
    assert ens.spec.name == "ensemble-ens"
    assert ens.spec.train.loss is None or ens.spec.train.loss.name == "cross_entropy"
    assert ens.spec.model == digits_run.spec.model
    metrics = evaluate_run(ens)
    assert metrics["accuracy"] == pytest.approx(out["test"]["accuracy"])
    x, y = E.test_examples(ens, 20)
    p = ens.predict_proba(x)
    mean = (digits_run.predict_proba(x) + other.predict_proba(x)) / 2
    assert np.allclose(p, mean, atol=1e-5)
    np.savez(tmp_path / "in.npz", x=x.numpy())
    csv = predict_file(tmp_path / "ens", tmp_path / "in.npz").splitlines()
    assert len(csv) == 21 and csv[0].startswith("row,class")
    r = deepnet.attack(ens, "pgd", eps=0.3, limit=50)
    assert r.robust_accuracy <= 0.1 and r.max_perturbation <= 0.3 + 1e-6
    code = main(["ensemble", str(digits_run.path), "--out", str(tmp_path / "one")])
    assert code == 2 and "at least 2 runs" in capsys.readouterr().err
