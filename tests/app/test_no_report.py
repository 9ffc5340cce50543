"""`report: false` in the spec and `deepnet train --no-report` (issue 22): the run's
numbers without report.html (nor the spec's attacks, which only the report shows); the
report can be written later with `deepnet report RUN`."""

import json

import pytest

import deepnet
from deepnet.cli import main
from factory import mlp_spec


def test_the_spec_and_the_flag_skip_the_report(tmp_path, capsys):
    spec = mlp_spec(epochs=1)
    spec["report"] = False
    run = deepnet.train(spec, out=tmp_path / "spec", quiet=True)
    assert not (run.path / "report.html").exists() and run.results.test["accuracy"] > 0.2
    assert "report" not in run.results.timings
    assert deepnet.Spec.from_yaml(run.path / "spec.yaml").report is False

    path = tmp_path / "s.yaml"
    deepnet.Spec.from_dict(mlp_spec(epochs=1)).to_yaml(path)
    assert main(["train", str(path), "--out", str(tmp_path / "flag"), "--no-report",
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "report:" not in out and not (tmp_path / "flag" / "report.html").exists()
    assert main(["report", str(tmp_path / "flag"), "--quiet"]) == 0  # written later
    assert (tmp_path / "flag" / "report.html").is_file()
    capsys.readouterr()

    assert main(["train", str(path), "--out", str(tmp_path / "json"), "--no-report",
                 "--quiet", "--json"]) == 0
    assert "report" not in json.loads(capsys.readouterr().out)["timings"]


@pytest.mark.parametrize("value", ["maybe", "[]"])
def test_a_report_that_is_not_a_boolean_is_refused(value):
    with pytest.raises(deepnet.SpecError, match="report"):
        deepnet.Spec.from_dict(mlp_spec(), [f"report={value}"])
