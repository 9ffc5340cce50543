"""The files of a run directory read back: a run loads with its records; a damaged or
truncated JSON file is a CheckpointError naming the file (exit code 2), never a
JSONDecodeError traceback."""

import json
import shutil

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import deepnet
from deepnet.cli import main
from deepnet.runs.files import (
    AUDIT,
    ENSEMBLE,
    EXAMPLES_FIGURE,
    METRICS,
    MODEL,
    RESULTS,
    ROBUSTNESS,
    ROBUSTNESS_RESULTS,
    RunDir,
)
from deepnet.runs.records import (
    AttackRecord,
    AuditReport,
    EnsembleInfo,
    Leak,
    Results,
    Robustness,
)
from factory import mlp_layers, spec_dict


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """runs/a and runs/b (tiny iris MLPs), runs/a with an audit and an attack record, and
    runs/ens, their ensemble (its folder as `deepnet ensemble` writes it)."""
    root = tmp_path_factory.mktemp("runs")
    for name, seed in (("a", 0), ("b", 1)):
        spec = spec_dict("iris", mlp_layers(8, 3, flatten=False), seed=seed)
        deepnet.train(deepnet.Spec.from_dict(spec), out=root / name, quiet=True,
                      report=False)
    files = RunDir(root / "a")
    files.write_audit(AuditReport(leakage=[Leak(3, "test", 1, True)]))
    attack = AttackRecord("pgd", "naive", "linf", 0.1, False, None, 30, 0.9, 0.4, 0.5,
                          0.09, 0.1, 0.2, {}, [(0.0, 0.9), (0.1, 0.4)])
    files.write_robustness(Robustness([attack]), {})
    np.savez(root / "x.npz", x=np.ones((3, 4), np.float32))
    ens = RunDir(root / "ens")
    ens.write_ensemble(EnsembleInfo(["../a", "../b"]))
    ens.write_results(Results(test={"accuracy": 0.9}, members=["../a", "../b"],
                              member_test={"a": {"accuracy": 0.8}, "b": {"accuracy": 0.85}}))
    return root


def test_a_run_reads_back_as_records(runs):
    run = deepnet.load(runs / "a")
    saved = json.loads((runs / "a" / RESULTS).read_text())
    assert run.results.test == saved["test"] and run.results.epochs == saved["epochs"] == 2
    assert run.meta.classes == ["setosa", "versicolor", "virginica"]
    assert run.encoding.kind == "table" and run.meta.input_shape == run.input_shape == (4,)
    assert run.history[-1]["epoch"] == 2
    assert run.files.read_audit().leakage[0] == Leak(3, "test", 1, True)
    assert run.files.read_robustness().attacks[0].robust_accuracy == 0.4
    ens = deepnet.load(runs / "ens")
    assert [m.path for m in ens.members] == [runs / "ens" / "../a", runs / "ens" / "../b"]
    assert ens.results.members == ["../a", "../b"]
    assert ens.results.member_test["b"] == {"accuracy": 0.85}
    lo, hi = ens.meta.x_range
    assert (lo, hi) == (min(m.meta.x_range[0] for m in ens.members),
                        max(m.meta.x_range[1] for m in ens.members))


def test_load_restores_preprocessing_from_the_metadata_alone(runs, tmp_path):
    """The spec's data are not read again: a run whose data source is gone still predicts
    the same, and a format-less (format 1) model file loads as before."""
    copy = tmp_path / "a"
    shutil.copytree(runs / "a", copy)
    x = torch.rand(5, 4).numpy() * 6
    want = deepnet.load(copy).predict_proba(x)
    with safe_open(str(copy / MODEL), framework="pt") as f:
        meta = {k: v for k, v in f.metadata().items() if k != "format"}
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    save_file(tensors, copy / MODEL, meta)
    run = deepnet.load(copy)
    assert run.meta.format == 1
    assert run.preprocess.to_json() == json.loads(meta["preprocess"])
    assert (run.predict_proba(x) == want).all()


def _truncate(f):
    text = f.read_text()
    f.write_text(text[: len(text) // 2])


def _cut_last_line(f):
    lines = f.read_text().splitlines(keepends=True)
    f.write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])


def _wrong_shape(f):
    f.write_text(json.dumps({"test": [0.5], "attacks": {}, "members": "a"}))


def _flip_two_bytes(f):
    """Two bit flips in the tensor data, as a bad disk makes: the file still parses."""
    data = bytearray(f.read_bytes())
    data[-7] ^= 0x40
    data[-31] ^= 0x01
    f.write_bytes(bytes(data))


def _edit_metadata(f):
    """The model's metadata edited by hand (its task), the weights untouched."""
    with safe_open(str(f), framework="pt") as st:
        meta, tensors = st.metadata(), {k: st.get_tensor(k) for k in st.keys()}  # noqa: SIM118
    save_file(tensors, str(f), {**meta, "classes": json.dumps(["x", "y", "z"])})


# (run folder, file, how it is damaged, commands that read it)
CASES = [
    ("a", RESULTS, _truncate, ("evaluate", "diagnose", "report")),
    ("a", RESULTS, _wrong_shape, ("evaluate", "report")),
    ("a", METRICS, _cut_last_line, ("evaluate", "diagnose", "report")),
    ("a", AUDIT, _truncate, ("report",)),
    ("a", AUDIT, _wrong_shape, ("report",)),
    ("a", ROBUSTNESS_RESULTS, _truncate, ("report",)),
    ("a", ROBUSTNESS_RESULTS, _wrong_shape, ("report",)),
    ("ens", ENSEMBLE, _truncate, ("evaluate", "report")),
    ("ens", ENSEMBLE, _wrong_shape, ("evaluate",)),
    ("ens", RESULTS, _truncate, ("evaluate",)),
    ("a", MODEL, _flip_two_bytes, ("evaluate", "diagnose", "report", "predict")),
    ("a", MODEL, _edit_metadata, ("evaluate", "report")),
    ("a", f"{ROBUSTNESS}/{EXAMPLES_FIGURE}", _wrong_shape, ("report",)),
]


@pytest.mark.parametrize("folder, name, damage, commands", CASES,
                         ids=[f"{c[0]}/{c[1]}-{c[2].__name__[1:]}" for c in CASES])
def test_damaged_file_is_named_with_exit_code_2(runs, tmp_path, capsys, folder, name,
                                                damage, commands):
    shutil.copytree(runs, tmp_path / "runs")
    target = tmp_path / "runs" / folder
    damage(target / name)
    for command in commands:
        inputs = [str(runs / "x.npz")] if command == "predict" else []
        assert main([command, str(target), *inputs]) == 2, command
        err = capsys.readouterr().err
        assert f"deepnet {command}: error: " in err and "Traceback" not in err, err
        assert str(target / name) in err and "damaged" in err, err
