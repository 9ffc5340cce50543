"""Bad command-line arguments (issue 13): each is refused with exit 2 naming the argument
(or the value) before any work. `<spec>`, `<tune>`, `<digits>`, `<iris>`, `<inputs>` and
`<tmp>` in a case stand for a good spec, a spec with a tune.space, a copy of the trained
digits and iris runs, a good .npz of digits inputs and the test's folder."""

from __future__ import annotations

import numpy as np
import pytest
from refusal_checks import refused

from factory import mlp_spec, write_spec

TUNE = {"tune": {"trials": 1, "space": {"train.optimizer.lr": {"loguniform": [1e-3, 1e-2]}}}}

CASES = [
    # summary
    pytest.param(["summary", "<spec>", "--batch-size", "0"], ["--batch-size"],
                 id="summary-batch-size-zero"),
    pytest.param(["summary", "<spec>", "--batch-size", "-5"], ["--batch-size"],
                 id="summary-batch-size-negative"),
    pytest.param(["summary", "<spec>", "--batch-size", "many"], ["--batch-size"],
                 id="summary-batch-size-not-int"),
    pytest.param(["summary", "<spec>", "--max-batch"], ["--memory"],
                 id="summary-max-batch-without-memory"),
    pytest.param(["summary", "<spec>", "--memory", "8GB"], ["--max-batch"],
                 id="summary-memory-without-max-batch"),
    pytest.param(["summary", "<spec>", "--max-batch", "--memory", "8XB"], ["8XB"],
                 id="summary-memory-bad-unit"),
    pytest.param(["summary", "<spec>", "--max-batch", "--memory", "0"], ["memory"],
                 id="summary-memory-zero"),
    pytest.param(["summary", "<spec>", "--tflops", "0"], ["--tflops"], id="summary-tflops-zero"),
    pytest.param(["summary", "<spec>", "--tflops", "inf"], ["--tflops"], id="summary-tflops-inf"),
    pytest.param(["summary", "<spec>", "--tflops", "nan"], ["--tflops"], id="summary-tflops-nan"),
    # train
    pytest.param(["train", "<spec>", "--rounds", "2", "--out", "<tmp>/run"], ["--rounds"],
                 id="train-rounds-without-auto"),
    pytest.param(["train", "<spec>", "--auto", "--rounds", "0", "--out", "<tmp>/run"],
                 ["--rounds"], id="train-auto-rounds-zero"),
    pytest.param(["train", "<spec>", "--resume", "<digits>"], ["--resume"],
                 id="train-resume-with-spec"),
    pytest.param(["train", "--resume", "<digits>", "--set", "seed=3"], ["--resume", "--set"],
                 id="train-resume-with-set"),
    pytest.param(["train", "--resume", "<digits>", "--out", "<tmp>/x"], ["--resume", "--out"],
                 id="train-resume-with-out"),
    pytest.param(["train", "--quiet"], ["SPEC"], id="train-no-spec"),
    pytest.param(["train", "<spec>", "--auto", "--resume", "<digits>"], ["--auto", "--resume"],
                 id="train-auto-resume"),
    pytest.param(["train", "<spec>", "--bogus"], ["--bogus"], id="train-unknown-option"),
    pytest.param(["trian", "<spec>"], ["trian"], id="unknown-command"),
    # attack
    pytest.param(["attack", "<digits>", "--method", "fgsm", "--limit", "0"], ["--limit"],
                 id="attack-limit-zero"),
    pytest.param(["attack", "<digits>", "--method", "fgsm", "--limit", "-3"], ["--limit"],
                 id="attack-limit-negative"),
    pytest.param(["attack", "<digits>", "--method", "fgsm", "--eps", "-1"], ["eps"],
                 id="attack-eps-negative"),
    pytest.param(["attack", "<digits>", "--method", "fgsm", "--eps", "nan"], ["eps"],
                 id="attack-eps-nan"),
    pytest.param(["attack", "<digits>", "--method", "fgsm", "--eps", "inf"], ["eps"],
                 id="attack-eps-inf"),
    pytest.param(["attack", "<digits>", "--method", "fgsmm"], ["fgsmm", "fgsm"],
                 id="attack-unknown-method"),
    pytest.param(["attack", "<digits>", "--method", "pgd", "--target", "eleven"],
                 ["--target", "eleven"], id="attack-unknown-target"),
    pytest.param(["attack", "<digits>", "--method", "pgd", "--target", "10"], ["10"],
                 id="attack-target-number-out-of-range"),
    pytest.param(["attack", "<digits>", "--method", "pgd", "--steps", "0"], ["steps"],
                 id="attack-steps-zero"),
    pytest.param(["attack", "<digits>", "--method", "pgd", "--restarts", "-1"], ["restarts"],
                 id="attack-restarts-negative"),
    pytest.param(["attack", "<digits>", "--method", "pgd", "--norm", "l3"], ["l3"],
                 id="attack-unknown-norm"),
    pytest.param(["attack", "<digits>"], ["--method"], id="attack-no-method"),
    # tune
    pytest.param(["tune", "<tune>", "--workers", "0", "--out", "<tmp>/t"], ["--workers"],
                 id="tune-workers-zero"),
    pytest.param(["tune", "<tune>", "--trials", "0", "--out", "<tmp>/t"], ["--trials"],
                 id="tune-trials-zero"),
    pytest.param(["tune", "<tune>", "--timeout", "-1", "--out", "<tmp>/t"], ["--timeout"],
                 id="tune-timeout-negative"),
    pytest.param(["tune", "<tune>", "--timeout", "nan", "--out", "<tmp>/t"], ["--timeout"],
                 id="tune-timeout-nan"),
    pytest.param(["tune", "<spec>", "--out", "<tmp>/t"], ["tune section"],
                 id="tune-without-space"),
    pytest.param(["tune", "<tune>", "--storage", "nosuchdb://x", "--out", "<tmp>/t"],
                 ["--storage"], id="tune-storage-unknown-scheme"),
    # predict, evaluate
    pytest.param(["predict", "<digits>", "<tmp>/nope.npz"], ["nope.npz"],
                 id="predict-input-missing"),
    pytest.param(["predict", "<digits>", "<spec>"], ["spec.yaml"], id="predict-input-yaml"),
    pytest.param(["predict", "<iris>", "<tmp>"], ["tables"], id="predict-folder-for-table-run"),
    pytest.param(["evaluate", "<digits>", "--data", "<tmp>/nope.npz"], ["nope.npz"],
                 id="evaluate-data-missing"),
    pytest.param(["evaluate", "<digits>", "--data", "<tmp>/labels.npz"], ["labels.npz", "42"],
                 id="evaluate-data-unknown-labels"),
    pytest.param(["diagnose", "<tmp>/empty"], ["empty", "spec.yaml"], id="diagnose-not-a-run"),
    # ensemble
    pytest.param(["ensemble", "<digits>", "--out", "<tmp>/ens"], ["2"],
                 id="ensemble-one-run"),
    pytest.param(["ensemble", "<digits>", "<iris>", "--out", "<tmp>/ens"], ["iris"],
                 id="ensemble-runs-of-different-data"),
    pytest.param(["ensemble", "<digits>", "<tmp>/nope", "--out", "<tmp>/ens"], ["nope"],
                 id="ensemble-member-missing"),
]


@pytest.fixture
def resolve(tmp_path, digits_run, iris_run, run_copy):
    """The argv of a case with its placeholders filled in."""
    spec = write_spec(tmp_path / "spec.yaml", mlp_spec(epochs=1))
    tune = write_spec(tmp_path / "tune.yaml", mlp_spec(epochs=1, **TUNE))
    (tmp_path / "empty").mkdir()
    inputs = tmp_path / "inputs.npz"
    np.savez(inputs, x=np.zeros((3, 1, 8, 8), np.float32))
    np.savez(tmp_path / "labels.npz", x=np.zeros((3, 1, 8, 8), np.float32),
             y=np.array([1, 42, 3]))
    runs = {}

    def run(name, trained):
        if name not in runs:  # a copy: a command that is not refused may write into it
            runs[name] = run_copy(trained, name)
        return str(runs[name])

    def fill(arg: str) -> str:
        for key, value in (("<spec>", lambda: str(spec)), ("<tune>", lambda: str(tune)),
                           ("<digits>", lambda: run("digits", digits_run)),
                           ("<iris>", lambda: run("iris", iris_run)),
                           ("<inputs>", lambda: str(inputs)), ("<tmp>", lambda: str(tmp_path))):
            if key in arg:
                arg = arg.replace(key, value())
        return arg

    return lambda argv: [fill(a) for a in argv]


@pytest.mark.parametrize("argv, places", CASES)
def test_bad_arguments(capsys, tmp_path, resolve, argv, places):
    refused(capsys, resolve(argv), *places)
    for out in ("run", "t", "ens", "x"):
        assert not (tmp_path / out).exists(), f"a refused command made {out}/"
