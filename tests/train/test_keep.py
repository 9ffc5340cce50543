"""train.keep (issue 22, item 4): the best epoch's weights (by a monitored metric) or the
last epoch's, whether or not the run stops early. Training without a schedule is the
same for its first k epochs whatever the number of epochs, so a run of k epochs that
keeps its last weights is the reference for a longer one that kept epoch k."""

import pytest
import torch

import deepnet
from factory import mlp_spec


def _train(tmp_path, name: str, epochs: int, early_stopping, keep=None):
    spec = mlp_spec(epochs=epochs, hidden=64)
    spec["train"].update({"early_stopping": early_stopping, "keep": keep,
                          "optimizer": {"name": "adam", "lr": 0.05}})
    return deepnet.train(spec, out=tmp_path / name, quiet=True, report=False)


def _same(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.model.state_dict().values(),
                                                 b.model.state_dict().values(), strict=True))


def test_keep_best_without_early_stopping(tmp_path):
    run = _train(tmp_path, "best", 8, None, "best")
    losses = [h["val_loss"] for h in run.history]
    k = losses.index(min(losses)) + 1
    assert k < 8, losses  # the test needs a best epoch before the last (lr 0.05: noisy)
    assert run.results.best_epoch == k and run.results.epochs == 8
    assert _same(run, _train(tmp_path, "ref", k, None, "last"))
    assert deepnet.diagnose(run)  # the diagnosis reads the kept epoch without failing


def test_keep_last_with_early_stopping(tmp_path):
    run = _train(tmp_path, "last", 30, {"monitor": "val_loss", "patience": 1}, "last")
    n = run.results.epochs
    assert run.results.stop_reason == "early_stopping" and n < 30
    assert run.results.best_epoch == n
    assert _same(run, _train(tmp_path, "ref", n, None))  # the last weights, not the best


def test_keep_best_by_its_own_monitor_beside_early_stopping(tmp_path):
    run = _train(tmp_path, "acc", 8, {"monitor": "val_loss", "patience": 100},
                 {"epoch": "best", "monitor": "val_accuracy"})
    acc = [h["val_accuracy"] for h in run.history]
    k = acc.index(max(acc)) + 1
    assert run.results.best_epoch == k
    assert _same(run, _train(tmp_path, "ref", k, None, "last"))


def test_a_keep_monitor_that_is_not_logged_is_refused(tmp_path):
    spec = mlp_spec(epochs=1)
    spec["train"]["keep"] = {"epoch": "best", "monitor": "val_auc"}
    with pytest.raises(deepnet.SpecError, match=r"train.keep.monitor.*'val_auc' is not logged"):
        deepnet.train(spec, out=tmp_path / "r", quiet=True)
    assert not (tmp_path / "r").exists()
    with pytest.raises(deepnet.SpecError, match="train.keep"):
        deepnet.Spec.from_dict(mlp_spec(), ["train.keep=first"])
