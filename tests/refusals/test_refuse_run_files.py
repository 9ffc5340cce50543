"""Damaged run folders (issue 13, items 2, 3, 4, 5, 14): every command that reads a run
refuses a missing, truncated, altered or garbage file with exit 2 naming it (nothing
damaged is used); `train --resume` refuses an edited spec.yaml naming the keys that
differ, and resumes a run killed before its first checkpoint from the beginning. Each
case damages a fresh copy of one trained digits run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from refusal_checks import refused

from deepnet.cli import main

MODEL = "model.safetensors"


# ----------------------------------------------------------------------------- damages
# Each takes the run folder, damages it and returns the file (or folder) a correct
# message names.
def missing_dir(run: Path) -> str:
    shutil.rmtree(run)
    return str(run)


def remove(name: str):
    def damage(run: Path) -> str:
        (run / name).unlink()
        return name

    return damage


def write(name: str, content: str | bytes):
    def damage(run: Path) -> str:
        path = run / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return name

    return damage


def truncate_last_line(run: Path) -> str:
    path = run / "metrics.jsonl"
    text = path.read_text()
    path.write_text(text[: len(text) - 40])  # the last epoch's line, cut short
    return "metrics.jsonl"


def _header(data: bytes) -> tuple[int, dict]:
    n = int.from_bytes(data[:8], "little")
    return n, json.loads(data[8:8 + n])


def flip_model_bytes(run: Path) -> str:
    """Two bytes of the tensor data inverted (a disk or copy error)."""
    path = run / MODEL
    data = bytearray(path.read_bytes())
    start = 8 + _header(data)[0]
    for at in (start + 3, start + 1001):  # the high bytes of two float32 weights
        data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    return MODEL


def truncate_model(run: Path) -> str:
    path = run / MODEL
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 500])
    return MODEL


def _edit_header(run: Path, old: bytes, new: bytes) -> str:
    """Replace `old` by `new` in model.safetensors' JSON header, the tensors untouched."""
    path = run / MODEL
    data = path.read_bytes()
    n, _ = _header(data)
    header = data[8:8 + n].replace(old, new)
    assert header != data[8:8 + n]
    path.write_bytes(data[:8] + header + data[8 + n:])
    return MODEL


def edit_model_metadata(run: Path) -> str:
    """The saved input shape changed in the header, the file's size kept."""
    return _edit_header(run, b'"[1, 8, 8]"', b'"[1, 9, 7]"')


def edit_model_classes(run: Path) -> str:
    return _edit_header(run, b'\\"9\\"', b'\\"X\\"')


DAMAGES = [
    pytest.param(missing_dir, id="missing-dir"),
    pytest.param(remove("spec.yaml"), id="no-spec"),
    pytest.param(write("spec.yaml", "name: [unclosed\n"), id="garbage-spec"),
    pytest.param(write("spec.yaml", b"\xff\xfe\x00garbage"), id="binary-spec"),
    pytest.param(write("spec.yaml", "name: t\nmodel: {layers: [{dense: 3}]}\n"),
                 id="spec-without-data"),
    pytest.param(truncate_last_line, id="item2-metrics-truncated"),
    pytest.param(write("metrics.jsonl", '{"epoch": 1}\n[1, 2]\n'), id="item2-metrics-not-objects"),
    pytest.param(write("results.json", '{"test": {"loss": 0.5'), id="item2-results-garbage"),
    pytest.param(write("results.json", '{"test": 5, "epochs": "many"}'),
                 id="item2-results-wrong-schema"),
    pytest.param(flip_model_bytes, id="item3-model-2-bytes-flipped"),
    pytest.param(truncate_model, id="item3-model-truncated"),
    pytest.param(remove(MODEL), id="model-missing"),
    pytest.param(write(MODEL, b"not a safetensors file at all"), id="model-garbage"),
    pytest.param(edit_model_metadata, id="item14-model-metadata-edited"),
]

COMMANDS = {  # how each command reads a run (the inputs of predict are made per case)
    "evaluate": lambda run, tmp: ["evaluate", run],
    "diagnose": lambda run, tmp: ["diagnose", run],
    "report": lambda run, tmp: ["report", run],
    "attack": lambda run, tmp: ["attack", run, "--method", "fgsm", "--limit", "8"],
    "predict": lambda run, tmp: ["predict", run, _inputs(tmp)],
}
NEEDS_MODEL = {"evaluate", "attack", "predict"}  # diagnose and report read the rest


def _inputs(tmp_path: Path) -> Path:
    path = tmp_path / "inputs.npz"
    np.savez(path, x=np.random.default_rng(0).uniform(0, 1, (5, 1, 8, 8)).astype(np.float32))
    return path


def _cases():
    for damage in DAMAGES:
        for command in COMMANDS:
            uses_model = command in NEEDS_MODEL
            if damage.id in ("model-garbage",) and not uses_model:
                continue  # the same file as the others of the model: one per command kind
            yield pytest.param(command, damage.values[0], id=f"{damage.id}-{command}")


@pytest.mark.parametrize("command, damage", list(_cases()))
def test_damaged_run(tmp_path, capsys, digits_run, run_copy, command, damage):
    run = run_copy(digits_run)
    place = damage(run)
    argv = COMMANDS[command](run, tmp_path)
    refused(capsys, argv, place)


@pytest.mark.parametrize("command", ["report", "attack"])
def test_item2_robustness_results_garbage(tmp_path, capsys, digits_run, run_copy, command):
    run = run_copy(digits_run)
    place = write("robustness/results.json", '{"attacks": [')(run)
    refused(capsys, COMMANDS[command](run, tmp_path), place)


def test_item2_attack_keeps_nothing_damaged(tmp_path, capsys, digits_run, run_copy):
    """attack refuses a garbage robustness/results.json before attacking (the new result
    is not lost after the work) and leaves the file as it was."""
    run = run_copy(digits_run)
    write("robustness/results.json", "{not json")(run)
    refused(capsys, COMMANDS["attack"](run, tmp_path), "robustness/results.json")
    assert (run / "robustness/results.json").read_text() == "{not json"


@pytest.mark.parametrize("command", ["report", "audit --run"])
def test_audit_json_garbage(tmp_path, capsys, digits_run, run_copy, command):
    """report shows the stored audit; `audit --run` replaces it, refusing a damaged one
    before the audit rather than after."""
    run = run_copy(digits_run)
    place = write("audit.json", '{"label_issues": 3')(run)
    argv = (["audit", run / "spec.yaml", "--run", run] if command == "audit --run"
            else COMMANDS[command](run, tmp_path))
    refused(capsys, argv, place)


@pytest.mark.parametrize("command", ["evaluate", "report", "predict"])
def test_ensemble_json_garbage(tmp_path, capsys, digits_run, run_copy, command):
    run = run_copy(digits_run)
    place = write("ensemble.json", "[1, 2,")(run)
    refused(capsys, COMMANDS[command](run, tmp_path), place)


def test_item14_edited_classes_blame_the_model_file(tmp_path, capsys, digits_run, run_copy):
    run = run_copy(digits_run)
    err = refused(capsys, COMMANDS["predict"](run, tmp_path), edit_model_classes(run))
    assert "model.layers[0]" not in err


def test_item14_edited_input_shape_blames_the_model_file(tmp_path, capsys, digits_run,
                                                         run_copy):
    run = run_copy(digits_run)
    err = refused(capsys, ["evaluate", run], edit_model_metadata(run))
    assert "model.layers[0]" not in err, "the file is damaged, not the spec's first layer"


# ----------------------------------------------------------------------------- resume
def _edit_spec(run: Path, change) -> None:
    raw = yaml.safe_load((run / "spec.yaml").read_text())
    change(raw)
    (run / "spec.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))


def _units(raw):
    raw["model"]["layers"][1]["dense"]["units"] = 48


def _units_and_lr(raw):
    _units(raw)
    raw["train"]["optimizer"]["lr"] = 0.5


def _checkpoint_file(run: Path, suffix: str) -> Path:
    return next(p for p in sorted((run / "checkpoint").iterdir()) if p.name.endswith(suffix))


def _flip_checkpoint(run: Path) -> str:
    path = _checkpoint_file(run, ".safetensors")
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    return path.name


def _garbage_state(run: Path) -> str:
    path = _checkpoint_file(run, ".json")
    path.write_text("{garbage")
    return path.name


@pytest.mark.parametrize("change, places", [
    pytest.param(_units, ["spec.yaml", "model.layers[1].dense.units"],
                 id="item4-resume-edited-units"),
    pytest.param(_units_and_lr, ["spec.yaml", "model.layers[1].dense.units",
                                 "train.optimizer.lr"], id="item4-resume-edited-two-keys"),
])
def test_item4_resume_refuses_an_edited_spec(capsys, digits_run, run_copy, change, places):
    run = run_copy(digits_run)
    _edit_spec(run, change)
    refused(capsys, ["train", "--resume", run, "--quiet"], *places)


@pytest.mark.parametrize("damage", [
    pytest.param(_flip_checkpoint, id="resume-checkpoint-tensors-flipped"),
    pytest.param(_garbage_state, id="resume-checkpoint-state-garbage"),
])
def test_resume_refuses_a_damaged_checkpoint(capsys, digits_run, run_copy, damage):
    run = run_copy(digits_run)
    refused(capsys, ["train", "--resume", run, "--quiet"], damage(run))


def test_resume_a_folder_that_is_not_a_run(capsys, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "cat.jpg").write_bytes(b"\xff\xd8 not a run")
    refused(capsys, ["train", "--resume", folder, "--quiet"], folder)
    assert sorted(p.name for p in folder.iterdir()) == ["cat.jpg"]


def test_resume_a_missing_folder(capsys, tmp_path):
    refused(capsys, ["train", "--resume", tmp_path / "nope", "--quiet"], tmp_path / "nope")


def test_resume_a_file(capsys, tmp_path):
    path = tmp_path / "run.txt"
    path.write_text("a file")
    refused(capsys, ["train", "--resume", path, "--quiet"], path)


def test_item5_resume_a_run_killed_before_its_first_checkpoint(capsys, tmp_path, digits_run):
    """A run killed after writing spec.yaml, before its first checkpoint, is no dead end:
    --resume trains it from the beginning."""
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(digits_run / "spec.yaml", run / "spec.yaml")
    code = main(["train", "--resume", str(run), "--quiet"])
    err = capsys.readouterr().err
    assert code == 0, err
    epochs = [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text()
              .splitlines()]
    assert epochs == [1]
    assert json.loads((run / "results.json").read_text())["epochs"] == 1
