"""`deepnet attack` and `deepnet ensemble` on the command line: JSON, report, errors."""

import json

import numpy as np
import pytest

from deepnet.cli import main


def _cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_attack_json_and_report(digits_run, capsys):
    code, out, err = _cli(capsys, "attack", digits_run.path, "--method", "pgd", "--eps",
                          "0.2", "--steps", "5", "--limit", "60", "--json")
    assert code == 0, err
    d = json.loads(out)
    assert {"method", "eps", "clean_accuracy", "robust_accuracy", "success_rate",
            "max_perturbation"} <= set(d)
    assert d["method"] == "pgd" and d["eps"] == 0.2 and d["n"] == 60
    assert d["max_perturbation"] <= 0.2 + 1e-6
    assert d["adaptive"] == []  # no defense that hides gradients
    report = (digits_run.path / "report.html").read_text()
    assert "Robustness: attacks" in report and "accuracy vs eps" in report
    assert "Robustness: adversarial examples" in report
    saved = json.loads((digits_run.path / "robustness" / "results.json").read_text())
    assert any(a["method"] == "pgd" and a["eps"] == 0.2 for a in saved["attacks"])
    # `deepnet report` redraws the report from the run directory: nothing is lost
    (digits_run.path / "report.html").unlink()
    code, _, err = _cli(capsys, "report", digits_run.path)
    assert code == 0, err
    redrawn = (digits_run.path / "report.html").read_text()
    assert "Robustness: attacks" in redrawn and "Robustness: adversarial examples" in redrawn


@pytest.mark.parametrize("method, steps", [("pgd", 20), ("deepfool", 50), ("fgsm", None)])
def test_the_record_states_the_steps_run_when_left_to_the_default(digits_run, capsys, method,
                                                                  steps):
    code, out, err = _cli(capsys, "attack", digits_run.path, "--method", method,
                          "--limit", "20", "--json")
    assert code == 0, err
    options = json.loads(out)["options"]
    assert options.get("steps") == steps  # the default actually run, never null
    saved = json.loads((digits_run.path / "robustness" / "results.json").read_text())
    assert any(a["method"] == method and a["options"].get("steps") == steps
               for a in saved["attacks"])


def test_attack_text_output_targeted(digits_run, capsys):
    code, out, err = _cli(capsys, "attack", digits_run.path, "--method", "fgsm", "--eps",
                          "0.3", "--target", "least_likely", "--limit", "40")
    assert code == 0, err
    assert "targeted (least_likely)" in out and "success rate" in out


@pytest.mark.parametrize("args, fragment", [
    (["--method", "pgdd"], "unknown attack 'pgdd' (did you mean 'pgd'?)"),
    (["--method", "pgd", "--eps", "-1"], "eps"),
    (["--method", "pgd", "--steps", "0"], "steps"),
    (["--method", "cw", "--norm", "linf"], "cw is an l2 attack"),
    (["--method", "pgd", "--target", "12"], "out of range"),
    (["--method", "pgd", "--target", "sideways"], "expected a class of this run"),
    (["--method", "pgd", "--target", "sideways"], "a class number, or next, random, "
                                                   "least_likely"),
    (["--method", "pgd", "--norm", "l3"], "norm"),
    (["--method", "pgd", "--limit", "0"], "--limit"),
])
def test_attack_bad_arguments_exit_2(digits_run, capsys, args, fragment):
    code, out, err = _cli(capsys, "attack", digits_run.path, *args)
    assert code == 2
    assert fragment in err and "Traceback" not in err


def test_attack_missing_run_exit_2(tmp_path, capsys):
    code, _, err = _cli(capsys, "attack", tmp_path / "nope", "--method", "fgsm")
    assert code == 2 and "not found" in err


def test_attack_on_a_text_model_exit_2(tmp_path, capsys):
    rng = np.random.default_rng(0)
    words = ["good", "bad", "fine", "awful", "great", "poor"]
    rows = ["text,label"] + [f"{' '.join(rng.choice(words, 4))},{i % 2}" for i in range(60)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    spec = {"name": "txt", "data": {"source": str(tmp_path / "t.csv"), "target": "label",
                                    "text": {"column": "text", "max_len": 4}},
            "model": {"layers": [{"embedding": {"vocab": 16, "dim": 4}}, {"flatten": {}},
                                 {"dense": {"units": 2}}]},
            "train": {"epochs": 1}}
    import yaml

    (tmp_path / "t.yaml").write_text(yaml.safe_dump(spec))
    code, _, err = _cli(capsys, "train", tmp_path / "t.yaml", "--out", tmp_path / "run",
                        "--quiet")
    assert code == 0, err
    code, out, err = _cli(capsys, "attack", tmp_path / "run", "--method", "fgsm")
    assert code == 2
    assert "attacks on token inputs are not supported" in err and "Traceback" not in err
    code, _, err = _cli(capsys, "train", tmp_path / "t.yaml", "--out", tmp_path / "run2",
                        "--quiet", "--set", "robust={attacks: [fgsm]}")
    assert code == 2 and "token inputs are not supported" in err
    assert not (tmp_path / "run2").exists()  # refused before the run directory is made
