"""diagnosis.json: the report's findings, saved so that `deepnet diagnose RUN` prints them
without importing torch (issue 14: diagnose in 2 s or less, where importing torch alone
takes 3 s here). They are used only while the run's files and the rules are those that
made them; otherwise the run is diagnosed again, with the same output."""

import json
import shutil
import subprocess
import sys

import pytest

import deepnet
from deepnet.cli import main
from deepnet.runs import files as run_files
from deepnet.runs.files import DIAGNOSIS, METRICS, MODEL, RESULTS, SPEC, RunDir
from factory import mlp_layers, spec_dict


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny iris MLP trained with its report (so with diagnosis.json)."""
    path = tmp_path_factory.mktemp("saved") / "run"
    spec = spec_dict("iris", mlp_layers(8, 3, flatten=False), epochs=3)
    deepnet.train(deepnet.Spec.from_dict(spec), out=path, quiet=True)
    return path


def _cli_json(capsys, path) -> list[dict]:
    capsys.readouterr()
    assert main(["diagnose", str(path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def fresh(path) -> list[dict]:
    return [f.to_dict() for f in deepnet.diagnose(path)]


def test_the_report_saves_the_findings_the_cli_prints(run, capsys):
    assert (run / DIAGNOSIS).is_file()
    saved = RunDir(run).read_diagnosis()
    assert saved == fresh(run) == _cli_json(capsys, run)
    assert saved and {"kind", "severity", "evidence", "explanation", "remedy"} <= set(saved[0])


def test_the_cli_does_not_import_torch_for_a_saved_diagnosis(run):
    code = ("import sys; from deepnet.cli import main; code = main(['diagnose', sys.argv[1]]);"
            "print('torch' in sys.modules); sys.exit(code)")
    out = subprocess.run([sys.executable, "-c", code, str(run)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "False"
    assert "remedy:" in out.stdout


@pytest.mark.parametrize("name", [SPEC, METRICS, RESULTS, MODEL])
def test_a_changed_source_file_is_diagnosed_again(run, tmp_path, capsys, name):
    """Any change to a file the findings were made from makes them out of date; the CLI
    then diagnoses the run again and prints what the rules find now."""
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    assert RunDir(copy).read_diagnosis() is not None
    f = copy / name
    if name == METRICS:  # the last epoch gone: findings about a shorter run
        f.write_text("".join(f.read_text().splitlines(keepends=True)[:-1]))
    elif name == RESULTS:
        data = json.loads(f.read_text())
        f.write_text(json.dumps({**data, "best_epoch": 1}))
    elif name == SPEC:
        f.write_text(f.read_text() + "\n# edited\n")
    else:  # damaged weights: not diagnosed from the saved findings but refused, exit 2
        f.write_bytes(f.read_bytes()[:-4] + b"\0\0\0\0")
    assert RunDir(copy).read_diagnosis() is None
    if name == MODEL:
        assert main(["diagnose", str(copy)]) == 2
        assert "model.safetensors" in capsys.readouterr().err
    else:
        assert _cli_json(capsys, copy) == fresh(copy)


def test_other_rules_or_a_damaged_file_mean_diagnosing_again(run, tmp_path, monkeypatch,
                                                              capsys):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    rules = tmp_path / "rules"
    shutil.copytree(run_files.RULES, rules)
    monkeypatch.setattr(run_files, "RULES", rules)
    assert RunDir(copy).read_diagnosis() is not None
    (rules / "fit.py").write_text((rules / "fit.py").read_text() + "\n# a changed rule\n")
    assert RunDir(copy).read_diagnosis() is None
    monkeypatch.undo()
    saved = copy / DIAGNOSIS
    for damage in (b"{", b"", b'{"rules": 1}', saved.read_bytes()[:-9], b"\xff\xfe"):
        saved.write_bytes(damage)
        assert RunDir(copy).read_diagnosis() is None
        assert _cli_json(capsys, copy) == fresh(copy)


def test_an_ensembles_diagnosis_is_redone_when_a_member_changes(run, tmp_path, capsys):
    members = [tmp_path / "a", tmp_path / "b"]
    for m in members:
        shutil.copytree(run, m)
    assert main(["ensemble", *map(str, members), "--out", str(tmp_path / "ens")]) == 0
    ens = RunDir(tmp_path / "ens")
    assert ens.read_diagnosis() is not None
    model = members[1] / MODEL
    model.write_bytes(model.read_bytes()[:-4] + b"\0\0\0\0")
    assert ens.read_diagnosis() is None
