"""deepnet.train.callbacks, each driven by a tiny real Trainer (deepnet.train.trainer.fit):
best weights and early stopping, the divergence guard, the metrics log, the checkpoint
callback and a resume through it, the progress lines."""

import json
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from deepnet.data.batches import InMemory
from deepnet.spec import Spec
from deepnet.train import checkpoint
from deepnet.train.callbacks import (
    BestWeights,
    Callback,
    Checkpoint,
    DivergenceGuard,
    MetricsLog,
    Progress,
    checkpointed,
)
from deepnet.train.trainer import Trainer, checkpoint_state, fit, load_checkpoint
from factory import mlp_spec

CPU = torch.device("cpu")
pytestmark = pytest.mark.usefixtures("one_thread")


def make_trainer(epochs=4, lr=0.1, flip_val=False, nan_val=False, nan_train_row=None,
                 seed=0) -> Trainer:
    """A 4-16-3 MLP on 64 training and 32 validation rows of a seeded linear problem
    (4 batches of 16 an epoch). `flip_val`: validation labels shifted by one class, so
    that the validation loss grows as training goes on."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((96, 4)).astype(np.float32)
    y = (x @ rng.standard_normal((4, 3))).argmax(1)
    x_val, y_val = x[64:].copy(), y[64:].copy()
    if flip_val:
        y_val = (y_val + 1) % 3
    if nan_val:
        x_val[:, 0] = np.nan
    x_train = x[:64].copy()
    if nan_train_row is not None:
        x_train[nan_train_row, 1] = np.nan
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    return Trainer(model, model, torch.optim.SGD(model.parameters(), lr=lr), None, "epoch",
                   F.cross_entropy, InMemory(x_train, y[:64], 16, CPU),
                   InMemory(x_val, y_val, 32, CPU), ["accuracy"], epochs,
                   batches=torch.Generator().manual_seed(seed))


def regression_trainer(lr: float, epochs=3) -> Trainer:
    """A linear regression whose SGD step is too large: the loss grows geometrically."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = (x @ rng.standard_normal(4)).astype(np.float32)
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    return Trainer(model, model, torch.optim.SGD(model.parameters(), lr=lr), None, "epoch",
                   lambda out, t: F.mse_loss(out.reshape(t.shape), t),
                   InMemory(x[:48], y[:48], 8, CPU), InMemory(x[48:], y[48:], 16, CPU), [],
                   epochs, batches=torch.Generator().manual_seed(0))


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class Recorder(Callback):
    """The hooks called, the batch losses seen, and the weights after each epoch."""

    def __init__(self):
        self.calls, self.losses, self.weights = [], [], []

    def on_train_begin(self, trainer):
        self.calls.append("train_begin")
        self.weights.append(weights(trainer.model))  # [0]: the initial weights

    def on_epoch_begin(self, trainer):
        self.calls.append(f"epoch_begin {trainer.epoch}")

    def on_batch_end(self, trainer, loss):
        self.losses.append(loss)

    def on_epoch_end(self, trainer, logs):
        self.calls.append(f"epoch_end {logs['epoch']}")
        self.weights.append(weights(trainer.model))

    def on_train_end(self, trainer):
        self.calls.append("train_end")


def reference_run(epochs=6, **kw) -> tuple[list[dict], Recorder]:
    """An uninterrupted run with no callback that acts: (history, recorder)."""
    t, rec = make_trainer(epochs=epochs, **kw), Recorder()
    fit(t, [rec])
    return t.history, rec


def expected_stop(values, patience, mode="min", min_delta=0.0):
    """(best epoch, last epoch run) by the rule: an epoch improves when it beats the best
    so far by more than min_delta; training stops after `patience` epochs that do not
    (at the first such epoch for patience 0, as Keras counts)."""
    best, best_epoch, wait = None, 0, 0
    for epoch, v in enumerate(values, 1):
        if best is None:
            better = bool(np.isfinite(v))
        else:
            better = v < best - min_delta if mode == "min" else v > best + min_delta
        if better:
            best, best_epoch, wait = v, epoch, 0
            continue
        wait += 1
        if patience is not None and wait >= max(patience, 1):
            return best_epoch, epoch
    return best_epoch, len(values)


def test_hooks_are_called_in_order():
    history, rec = reference_run(epochs=2)
    assert rec.calls == ["train_begin", "epoch_begin 0", "epoch_end 1", "epoch_begin 1",
                         "epoch_end 2", "train_end"]
    assert len(rec.losses) == 2 * 4
    assert [h["epoch"] for h in history] == [1, 2]
    assert history[0]["train_loss"] == pytest.approx(np.mean(rec.losses[:4]), rel=1e-6)


# ----------------------------------------------------------------------------- best weights
@pytest.mark.parametrize("patience", [0, 2])
def test_early_stopping_stops_and_restores_the_best_weights(patience):
    history, rec = reference_run(epochs=8, flip_val=True)
    losses = [h["val_loss"] for h in history]
    best_epoch, last = expected_stop(losses, patience)
    assert last < 8, "the validation loss should stop improving early in this setup"
    t = make_trainer(epochs=8, flip_val=True)
    fit(t, [BestWeights("val_loss", patience=patience)])
    assert t.epoch == last and t.stop_reason == "early_stopping"
    waited = max(patience, 1)
    assert last - best_epoch == waited  # patience epochs without improvement, not one more
    assert t.stop_message == (f"early stopping: val_loss has not improved for {waited} "
                              f"epoch{'s' if waited > 1 else ''} since epoch {best_epoch} "
                              f"(patience {patience})")
    assert t.best_epoch == best_epoch
    assert same(weights(t.model), rec.weights[best_epoch])
    assert [h["val_loss"] for h in t.history] == losses[:last]


def test_best_weights_restored_when_the_epochs_run_out_mode_max():
    history, rec = reference_run(epochs=6, lr=0.5)
    acc = [h["val_accuracy"] for h in history]
    best_epoch = 1 + int(np.argmax(acc))  # the first of equal maxima
    t = make_trainer(epochs=6, lr=0.5)
    cb = BestWeights("val_accuracy")  # auto: accuracy is better higher
    fit(t, [cb])
    assert cb.mode == "max" and t.stop_reason == "completed" and t.epoch == 6
    assert t.best_epoch == best_epoch and cb.best == max(acc)
    assert same(weights(t.model), rec.weights[best_epoch])


def test_min_delta_ignores_small_improvements():
    history, rec = reference_run(epochs=4)
    losses = [h["val_loss"] for h in history]
    assert losses[-1] < losses[0]  # it does improve, by less than min_delta
    t = make_trainer(epochs=4)
    fit(t, [BestWeights("val_loss", min_delta=10.0)])
    assert t.best_epoch == 1 and same(weights(t.model), rec.weights[1])


def test_initial_weights_are_kept_until_an_epoch_is_finite():
    t = make_trainer(epochs=5, nan_val=True)
    initial = weights(t.model)
    fit(t, [BestWeights("val_loss", patience=1)])
    assert all(np.isnan(h["val_loss"]) for h in t.history)
    assert t.epoch == 1 and t.best_epoch == 0  # patience 1: one epoch without improvement
    assert "has not improved for 1 epoch since epoch 0 (patience 1)" in t.stop_message
    assert same(weights(t.model), initial)


@pytest.mark.parametrize("monitor, mode", [("val_loss", "min"), ("train_loss", "min"),
                                           ("val_accuracy", "max"), ("train_f1", "max"),
                                           ("val_r2", "max"), ("val_mae", "min"),
                                           ("val_rmse", "min"), ("val_top5", "max")])
def test_auto_mode_follows_the_metric(monitor, mode):
    assert BestWeights(monitor).mode == mode
    assert BestWeights(monitor, mode="max").mode == "max"


def test_best_weights_state_survives_json_and_a_checkpoint(tmp_path):
    t = make_trainer(epochs=3)
    cb = BestWeights("val_loss", patience=4)
    fit(t, [cb])
    state = json.loads(json.dumps(cb.state_dict()))
    checkpoint.save(tmp_path, checkpoint.serialize(cb.tensors()), {}, "1")
    tensors, _ = checkpoint.load(tmp_path)
    back = BestWeights("val_loss", patience=4)
    back.load_state(state, tensors)
    assert (back.best, back.best_epoch, back.wait) == (cb.best, cb.best_epoch, cb.wait)
    assert same(back.weights, cb.weights)


# ----------------------------------------------------------------------------- divergence
def test_a_non_finite_batch_loss_stops_at_once():
    t, rec = make_trainer(epochs=3, nan_train_row=37), Recorder()
    fit(t, [rec, DivergenceGuard(1e3)])
    step = 1 + next(i for i, v in enumerate(rec.losses) if not np.isfinite(v))
    assert len(rec.losses) == step == t.step  # no batch after it
    assert t.stop_reason == "diverged"
    assert t.stop_message == f"diverged: the loss became nan at epoch 1, step {step}"
    assert t.history == [] and t.epoch == 0  # the diverged epoch is not kept
    assert rec.calls[-1] == "train_end"


def test_an_exploding_loss_stops_over_factor_times_the_first():
    t, rec = regression_trainer(lr=0.8), Recorder()
    guard = DivergenceGuard(10.0)
    fit(t, [rec, guard])
    first, losses = rec.losses[0], rec.losses
    assert guard.reference == first
    assert len(losses) == t.step > 6  # in the second epoch
    assert all(v <= 10 * first for v in losses[:-1]) and losses[-1] > 10 * first
    assert np.isfinite(losses[-1])
    epoch = 1 + (t.step - 1) // 6  # 6 batches an epoch
    assert t.stop_reason == "diverged"
    assert t.stop_message == (f"diverged: the loss exploded to {losses[-1]:.4g} at epoch "
                              f"{epoch}, step {t.step}, over 10 x its starting value "
                              f"{first:.4g} (train.divergence.factor); lower "
                              "train.optimizer.lr")


def test_a_stable_run_is_not_stopped_and_the_reference_resumes():
    t = regression_trainer(lr=0.05)
    guard = DivergenceGuard(2.0)
    fit(t, [guard])
    assert t.stop_reason == "completed" and t.epoch == 3
    back = DivergenceGuard(2.0)
    back.load_state(json.loads(json.dumps(guard.state_dict())), {})
    assert back.reference == guard.reference > 0


def test_checkpointed_callbacks_follow_the_spec():
    default = checkpointed(Spec.from_dict(mlp_spec()).train)
    assert [type(c) for c in default] == [DivergenceGuard, BestWeights]
    assert default[0].factor == 1e3
    assert (default[1].monitor, default[1].mode, default[1].patience) == ("val_loss", "min", 5)
    tc = Spec.from_dict(mlp_spec(**{
        "train.early_stopping": {"monitor": "val_accuracy", "patience": 2, "min_delta": 0.01},
        "train.divergence": 50})).train
    guard, best = checkpointed(tc)
    assert guard.factor == 50
    assert (best.monitor, best.mode, best.patience, best.min_delta) == (
        "val_accuracy", "max", 2, 0.01)
    none = checkpointed(Spec.from_dict(mlp_spec(**{"train.early_stopping": None})).train)
    assert [type(c) for c in none] == [DivergenceGuard]


# ----------------------------------------------------------------------------- files
def lines(path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_metrics_log_rewrites_then_appends_one_line_an_epoch(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"epoch": 7}\nhalf a li')  # left by an earlier, killed run
    t = make_trainer(epochs=3)
    seen = []

    class Peek(Callback):
        def on_epoch_end(self, trainer, logs):
            seen.append(len(path.read_text().splitlines()))

    fit(t, [MetricsLog(path), Peek()])
    assert seen == [1, 2, 3]  # written at each epoch's end
    assert lines(path) == t.history
    assert set(t.history[0]) == {"epoch", "train_loss", "train_accuracy", "grad_norms",
                                 "val_loss", "val_accuracy", "lr", "seconds"}


def test_checkpoint_callback_writes_at_the_start_and_after_each_epoch(tmp_path):
    folder = tmp_path / "checkpoint"
    t = make_trainer(epochs=3)
    saved = []

    def state(trainer):
        saved.append(trainer.epoch)
        return checkpoint_state(trainer, [])

    fit(t, [Checkpoint(folder, state)])
    assert saved == [0, 1, 2, 3]
    assert sorted(p.name for p in folder.iterdir()) == ["state-00003.json",
                                                        "tensors-00003.safetensors"]
    tensors, meta = checkpoint.load(folder)
    assert meta["epoch"] == 3 and meta["step"] == 12 and meta["history"] == t.history
    assert same({k[6:]: v for k, v in tensors.items() if k.startswith("model.")},
                weights(t.model))


def test_resume_through_the_callbacks_is_exact(tmp_path):
    """Two epochs, a kill (a junk metrics line), a fresh process that loads the checkpoint
    and runs two more: the same weights and metrics as four epochs at once."""

    def run(trainer, folder, metrics):
        stateful = [DivergenceGuard(1e3), BestWeights("val_loss", patience=10)]
        saved = []

        def state(tr):
            saved.append(tr.epoch)
            return checkpoint_state(tr, stateful)

        if trainer.epoch == 0 and checkpoint.exists(folder):
            load_checkpoint(trainer, folder, stateful)
        fit(trainer, [*stateful, Checkpoint(folder, state), MetricsLog(metrics)])
        return saved

    whole = make_trainer(epochs=4)
    run(whole, tmp_path / "a", tmp_path / "a.jsonl")

    part = make_trainer(epochs=2)
    assert run(part, tmp_path / "b", tmp_path / "b.jsonl") == [0, 1, 2]
    with open(tmp_path / "b.jsonl", "a") as f:
        f.write('{"epoch": 3, "train_lo')
    resumed = make_trainer(epochs=4, seed=5)  # other initial weights: all come from the file
    assert run(resumed, tmp_path / "b", tmp_path / "b.jsonl") == [3, 4]  # none at the start
    assert resumed.resumed and resumed.epoch == 4
    assert same(weights(resumed.model), weights(whole.model))
    assert resumed.best_epoch == whole.best_epoch

    def timeless(rows):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]

    assert timeless(lines(tmp_path / "b.jsonl")) == timeless(lines(tmp_path / "a.jsonl"))


# ----------------------------------------------------------------------------- progress
def expected_line(h: dict, epochs: int) -> str:
    """The fixed part of a progress line: everything up to the seconds and the ETA."""
    return (f"epoch {h['epoch']}/{epochs}  train_loss {h['train_loss']:.4f}  "
            f"val_loss {h['val_loss']:.4f}  train_accuracy {h['train_accuracy']:.4f}  "
            f"val_accuracy {h['val_accuracy']:.4f}  lr {h['lr']:.2e}  ")


def test_progress_prints_one_line_an_epoch(capsys):
    t = make_trainer(epochs=3)
    fit(t, [Progress(3, len(t.train_data), "accuracy")])
    captured = capsys.readouterr()
    assert captured.out == ""
    got = captured.err.splitlines()
    assert len(got) == 3
    for line, h in zip(got, t.history, strict=True):
        assert line.startswith(expected_line(h, 3)), line
        assert re.fullmatch(r"\d+\.\d\ds  ETA \d+s", line[len(expected_line(h, 3)):]), line
    assert got[-1].endswith("ETA 0s")


def test_progress_after_a_resume_counts_from_the_resumed_epoch(capsys):
    t = make_trainer(epochs=3)
    fit(t, [])
    t.epochs = 5
    fit(t, [Progress(5, len(t.train_data), "accuracy")])
    got = capsys.readouterr().err.splitlines()
    assert [line.split("  ")[0] for line in got] == ["epoch 4/5", "epoch 5/5"]


def test_progress_on_a_terminal_shows_a_live_bar(capsys, monkeypatch):
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("COLUMNS", "300")
    t = make_trainer(epochs=2)
    cb = Progress(2, len(t.train_data), "accuracy")
    fit(t, [cb])
    assert cb.bar is None  # the live display stopped with the training
    err = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", capsys.readouterr().err)  # no escape codes
    assert "━" in err and "ETA" in err  # the bar over the epoch's batches was drawn
    for h in t.history:
        assert expected_line(h, 2).rstrip() in err
