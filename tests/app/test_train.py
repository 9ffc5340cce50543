import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import yaml

import deepnet
from deepnet.app.train import EVAL_BATCH, evaluate_run
from deepnet.cli import main
from deepnet.data.batches import InMemory
from deepnet.train import checkpoint
from deepnet.train.trainer import evaluate
from factory import mlp_spec, override, same_tensors, write_spec

MLP = mlp_spec(epochs=8, hidden=48, dropout=0.2, name="mlp", **{
    "train.optimizer": {"name": "adam", "lr": 0.003}, "train.schedule": "onecycle",
    "train.early_stopping": {"patience": 2}})
RUN_FILES = {"spec.yaml", "metrics.jsonl", "model.safetensors", "checkpoint", "results.json",
             "report.html", "diagnosis.json", ".lock"}


def spec(**train):
    return deepnet.Spec.from_dict(override(MLP, **{f"train.{k}": v for k, v in train.items()}))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted run of the MLP spec."""
    out = tmp_path_factory.mktemp("ref") / "run"
    run = deepnet.train(spec(), out=out, quiet=True)
    return run


def test_run_directory_and_metrics(reference):
    path = reference.path
    assert {p.name for p in path.iterdir()} == RUN_FILES
    lines = [json.loads(x) for x in (path / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == reference.results.epochs >= 3
    first = lines[0]
    for key in ("epoch", "train_loss", "val_loss", "train_accuracy", "val_accuracy",
                "train_f1", "val_f1", "lr", "seconds", "grad_norms"):
        assert key in first
    assert set(first["grad_norms"]) == {n for n, _ in reference.model.named_parameters()}
    assert all(v > 0 for v in first["grad_norms"].values())
    assert lines[-1]["train_loss"] < lines[0]["train_loss"]
    results = json.loads((path / "results.json").read_text())
    assert results["test"]["accuracy"] > 0.85
    assert results["stop_reason"] in ("completed", "early_stopping")
    resolved = yaml.safe_load((path / "spec.yaml").read_text())
    assert resolved["task"] == "classification"
    assert resolved["train"]["loss"]["name"] == "cross_entropy"
    assert resolved["train"]["metrics"] == ["accuracy", "f1"]
    # nothing half-written is left behind
    assert not list(path.rglob("*.tmp"))


def test_same_spec_and_seed_give_identical_weights(reference, tmp_path):
    again = deepnet.train(spec(), out=tmp_path / "again", quiet=True)
    assert same_tensors(reference.path, again.path)
    other = deepnet.train(deepnet.Spec.from_dict(override(MLP, seed=1)), out=tmp_path / "s1",
                          quiet=True)
    assert not same_tensors(reference.path, other.path)


def test_early_stopping_keeps_the_best_weights(reference):
    history = reference.history
    best = min(h["val_loss"] for h in history)
    run = deepnet.load(reference.path)
    prepared = deepnet.data.prepare.prepare(run.spec)
    x, y = prepared.arrays("val")
    from deepnet.train.losses import make_loss

    loss_fn = make_loss(run.spec.train.loss, y, 10, "cpu")
    val = evaluate(run.model, InMemory(x, y, EVAL_BATCH, "cpu"), loss_fn, ["accuracy"])
    assert val["loss"] == pytest.approx(best, rel=1e-6, abs=1e-7)
    assert reference.results.best_epoch == 1 + [h["val_loss"] for h in history].index(best)


def test_best_weights_restored_when_epochs_run_out(tmp_path):
    run = deepnet.train(spec(epochs=4, early_stopping={"patience": 100}, schedule="none",
                             optimizer={"name": "sgd", "lr": 3.0}),
                        out=tmp_path / "r", quiet=True)
    losses = [h["val_loss"] for h in run.history]
    assert run.results.stop_reason == "completed"
    assert run.results.best_epoch == 1 + int(np.nanargmin(losses))


def test_no_early_stopping_keeps_the_last_weights(tmp_path):
    run = deepnet.train(spec(epochs=3, early_stopping=None), out=tmp_path / "r", quiet=True)
    assert run.results.epochs == 3
    assert run.results.stop_reason == "completed"


def test_load_and_predict_match_evaluate(reference, tmp_path, capsys):
    run = deepnet.load(reference.path)
    metrics = evaluate_run(run)
    assert metrics["accuracy"] == pytest.approx(reference.results.test["accuracy"])
    prepared = deepnet.data.prepare.prepare(run.spec)
    idx = prepared.splits["test"]
    raw = prepared.dataset.x[idx][:, 0]  # (N, 8, 8) pixel values in [0, 1]
    np.savez(tmp_path / "x.npz", x=raw)
    out = tmp_path / "pred.csv"
    assert main(["predict", str(reference.path), str(tmp_path / "x.npz"), "--out", str(out)]) == 0
    rows = out.read_text().splitlines()
    assert rows[0].split(",")[:3] == ["row", "class", "p_0"]
    classes = np.array([int(r.split(",")[1]) for r in rows[1:]])
    acc = (classes == prepared.dataset.y[idx]).mean()
    assert acc == pytest.approx(metrics["accuracy"], abs=1e-6)
    flat = run.predict(raw.reshape(len(raw), 64))  # (N, 64) works too
    assert (flat.astype(int) == classes).all()
    np.savez(tmp_path / "xy.npz", x=raw, y=prepared.dataset.y[idx])
    assert main(["evaluate", str(reference.path), "--data", str(tmp_path / "xy.npz"),
                 "--json"]) == 0
    out_json = json.loads(capsys.readouterr().out)
    assert out_json["accuracy"] == pytest.approx(metrics["accuracy"])


def test_train_json_output_exact_keys(tmp_path, capsys):
    path = write_spec(tmp_path / "s.yaml", MLP)
    assert main(["train", str(path), "--set", "train.epochs=2", "--out", str(tmp_path / "r"),
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"run_dir", "test", "epochs", "stop_reason", "seconds", "timings",
                        "total_seconds"}
    assert out["epochs"] == 2 and out["run_dir"] == str(tmp_path / "r")
    # the phases, in order; the epochs are `seconds`, the rest is told apart
    t = out["timings"]
    assert list(t) == ["startup", "prepare", "build", "setup", "train", "evaluate", "write",
                       "report"]
    assert t["train"] == pytest.approx(out["seconds"], abs=1e-3)
    assert sum(t.values()) == pytest.approx(out["total_seconds"], abs=1e-3)
    saved = json.loads((tmp_path / "r" / "results.json").read_text())["timings"]
    assert list(saved) == list(t)[1:-1]  # up to the writes: the report comes after them
    # a run is never overwritten
    assert main(["train", str(path), "--out", str(tmp_path / "r")]) == 2
    assert "already exists" in capsys.readouterr().err


def test_divergence_guard_exit_3_and_checkpoint_loads(tmp_path, capsys):
    out = tmp_path / "r"
    code = main(["train", "examples/digits.yaml", "--set", "train.optimizer.lr=1.0e6",
                 "--out", str(out), "--quiet"])
    assert code == 3
    err = capsys.readouterr().err
    assert "diverged" in err and "epoch 1, step" in err and "train.optimizer.lr" in err
    results = json.loads((out / "results.json").read_text())
    assert results["stop_reason"] == "diverged"
    tensors_, meta = checkpoint.load(out / "checkpoint")
    assert all(torch.isfinite(v).all() for k, v in tensors_.items() if k.startswith("model."))
    run = deepnet.load(out)
    assert all(torch.isfinite(p).all() for p in run.model.parameters())


def test_non_finite_loss_stops_at_once(tmp_path):
    run = deepnet.train(spec(optimizer={"name": "sgd", "lr": 1.0e30}, schedule="none",
                             early_stopping=None), out=tmp_path / "r", quiet=True)
    assert run.results.stop_reason == "diverged"
    assert "epoch 1, step" in run.results.stop_message


def test_corrupt_checkpoint_refused(reference, tmp_path, capsys):
    import shutil

    for target in ("tensors", "state"):
        copy = tmp_path / target
        shutil.copytree(reference.path, copy)
        ckpt = copy / "checkpoint"
        f = next(ckpt.glob(f"{target}-*"))
        data = bytearray(f.read_bytes())
        data[len(data) // 2] ^= 0x01
        f.write_bytes(bytes(data))
        assert main(["train", "--resume", str(copy)]) == 2
        err = capsys.readouterr().err
        assert str(f) in err and "corrupt" in err and "Traceback" not in err


def test_bad_run_directories(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nope")]) == 2
    assert "not found" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["train", "--resume", str(tmp_path / "empty")]) == 2
    assert "not a run folder (no spec.yaml)" in capsys.readouterr().err


def test_output_layer_must_fit_the_classes(tmp_path, capsys):
    d = override(MLP, **{"model.layers[-1]": {"dense": 7}})
    with pytest.raises(deepnet.SpecError, match=r"model.layers\[-1\].*10 classes"):
        deepnet.train(deepnet.Spec.from_dict(d), out=tmp_path / "r", quiet=True)
    assert not (tmp_path / "r").exists()


# ----------------------------------------------------------------------------- kill and resume
def _train_cmd(spec_path, out):
    return [sys.executable, "-m", "deepnet", "train", str(spec_path), "--out", str(out),
            "--quiet"]


def _resume(out):
    r = subprocess.run([sys.executable, "-m", "deepnet", "train", "--resume", str(out),
                        "--quiet"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr


def _kill_when(cmd, ready, timeout=120):
    """Start `cmd`, SIGKILL it as soon as ready() holds; True if it was killed mid-run."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if ready():
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    return proc.wait() == -signal.SIGKILL


@pytest.mark.slow  # run by .ci/run after the default suite (50 s)
def test_sigkill_at_three_points_then_resume_is_bit_identical(tmp_path):
    spec_path = write_spec(tmp_path / "s.yaml", override(
        MLP, **{"train.epochs": 12, "train.early_stopping": {"patience": 100}}))
    full = tmp_path / "full"
    deepnet.train(deepnet.Spec.from_yaml(spec_path), out=full, quiet=True)

    def lines(out):
        f = out / "metrics.jsonl"
        return len(f.read_text().splitlines()) if f.exists() else 0

    # 1: before the first epoch ends (only the initial checkpoint exists)
    a = tmp_path / "a"
    assert _kill_when(_train_cmd(spec_path, a), lambda: checkpoint.exists(a / "checkpoint"))
    # 2: mid-run, after some epochs
    b = tmp_path / "b"
    assert _kill_when(_train_cmd(spec_path, b), lambda: lines(b) >= 5)
    # 3: halfway through writing a checkpoint's tensors file (fault injection)
    c = tmp_path / "c"
    env = {**os.environ, "DEEPNET_KILL_AT": "checkpoint:7"}
    r = subprocess.run(_train_cmd(spec_path, c), env=env, capture_output=True, timeout=300)
    assert r.returncode == -signal.SIGKILL
    assert list((c / "checkpoint").glob(".*.tmp")), "the kill should leave a half-written file"
    for out in (a, b, c):
        assert not (out / "model.safetensors").exists()
        _resume(out)
        assert same_tensors(full, out), out.name
        assert not list(out.rglob("*.tmp"))
        assert [h["val_loss"] for h in deepnet.load(out).history] == \
               [h["val_loss"] for h in deepnet.load(full).history]


def test_refused_spec_leaves_no_run_directory(tmp_path, capsys):
    """Errors found only once the data are split (empty validation split, class weights
    of the wrong length) leave neither a new folder nor files in an empty --out folder."""
    mine = tmp_path / "mine"
    mine.mkdir()
    for out, setting in ((tmp_path / "new", "data.split.val=0"),
                         (mine, "train.loss={name: cross_entropy, class_weights: [1, 2]}")):
        assert main(["train", "examples/digits.yaml", "--out", str(out), "--quiet",
                     "--set", setting]) == 2
        assert "Traceback" not in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
    assert mine.is_dir() and not any(mine.iterdir())
