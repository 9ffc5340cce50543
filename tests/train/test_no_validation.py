"""data.split.val: 0 where nothing needs validation rows (issue 22, item 1): the run
trains on every non-test row, logs no val_ metrics, is tested and reported, and says it
cannot be diagnosed; settings that watch validation metrics are refused by name."""



import pytest

import deepnet
from deepnet.cli import main
from factory import mlp_spec


def _spec(**train) -> dict:
    spec = mlp_spec(epochs=3)
    spec["data"]["split"] = {"val": 0, "test": 0.2}
    spec["train"].update({"early_stopping": None, **train})
    return spec


def test_a_run_without_validation_rows(tmp_path, capsys):
    run = deepnet.train(_spec(), out=tmp_path / "r", quiet=True)
    assert run.results.samples["val"] == 0
    assert run.results.samples["train"] == 1797 - run.results.samples["test"]
    assert run.results.test["accuracy"] > 0.5
    assert all(not any(k.startswith("val_") for k in h) for h in run.history)
    page = (run.path / "report.html").read_text()
    assert "Not diagnosed: this run has no validation split" in page
    with pytest.raises(deepnet.DeepnetError, match="no validation split"):
        deepnet.diagnose(run)
    assert main(["diagnose", str(run.path)]) == 2
    assert "data.split.val: 0" in capsys.readouterr().err
    kept = deepnet.train(_spec(keep={"epoch": "best", "monitor": "train_loss"}),
                         out=tmp_path / "k", quiet=True, report=False)
    losses = [h["train_loss"] for h in kept.history]
    assert kept.results.best_epoch == losses.index(min(losses)) + 1


@pytest.mark.parametrize("train, words", [
    ({"early_stopping": {"monitor": "val_loss"}}, "train.early_stopping watches val_loss"),
    ({"keep": "best"}, "train.keep keeps the best epoch by val_loss"),
    ({"schedule": "plateau"}, "train.schedule: plateau watches val_loss"),
])
def test_what_watches_validation_is_refused(tmp_path, train, words):
    with pytest.raises(deepnet.DataError, match="data.split.val: the validation split is "
                       "empty") as e:
        deepnet.train(_spec(**train), out=tmp_path / "r", quiet=True)
    assert words in str(e.value) and e.value.path == "data.split.val"
    assert not (tmp_path / "r").exists()


def test_tuning_needs_validation(tmp_path):
    spec = _spec()
    spec["tune"] = {"trials": 2, "space": {"train.optimizer.lr": {"uniform": [0.001, 0.01]}}}
    with pytest.raises(deepnet.DeepnetError, match="tune ranks its trials by val_accuracy"):
        deepnet.tune(spec, out=tmp_path / "t", quiet=True)
