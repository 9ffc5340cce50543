"""train.log: what a run wrote to CSV, TensorBoard and MLflow, read back by pandas and by
TensorBoard's and MLflow's own readers, each epoch once, also across a resume."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import deepnet
from deepnet.core.errors import SpecError
from deepnet.train.callbacks import Callback
from deepnet.train.tracking import CSV_FILE, MLFLOW_FILE, TENSORBOARD_DIR
from factory import cnn_spec

EPOCHS = 4


class Interrupt(Callback):
    """Ctrl-C after `at` epochs (their checkpoint written), as a user would."""

    def __init__(self, at: int):
        self.at = at

    def on_epoch_end(self, trainer, logs):
        if logs["epoch"] == self.at:
            raise KeyboardInterrupt


def tensorboard_scalars(folder) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """A digits CNN logged to all three, interrupted after epoch 2 and resumed."""
    pytest.importorskip("tensorboard")
    pytest.importorskip("mlflow")
    root = tmp_path_factory.mktemp("tracking")
    spec = deepnet.Spec.from_dict(cnn_spec(epochs=EPOCHS, filters=4, pool=2, **{
        "train.log": ["csv", "tensorboard", "mlflow"], "train.early_stopping": None}))
    with pytest.raises(KeyboardInterrupt):
        deepnet.train(spec, out=root / "run", quiet=True, callbacks=[Interrupt(2)])
    run = deepnet.train(None, resume=root / "run", quiet=True)
    return root, run


@pytest.mark.slow  # run by .ci/run after the default suite
def test_every_epoch_once_in_each_tracker_with_the_runs_values(tracked):
    root, run = tracked
    history = run.history
    assert [h["epoch"] for h in history] == list(range(1, EPOCHS + 1))
    steps = list(range(1, EPOCHS + 1))

    table = pd.read_csv(run.path / CSV_FILE)
    assert table.epoch.tolist() == steps
    assert table.val_loss.tolist() == pytest.approx([h["val_loss"] for h in history])
    assert any(c.startswith("grad_norm/") for c in table.columns)

    scalars = tensorboard_scalars(run.path / TENSORBOARD_DIR)
    for key in ("train_loss", "val_loss", "val_accuracy", "lr"):
        assert [s for s, _ in scalars[key]] == steps, key  # resumed: no epoch twice
        assert [v for _, v in scalars[key]] == pytest.approx([h[key] for h in history],
                                                              rel=1e-6)
    grads = [k for k in scalars if k.startswith("grad_norm/")]
    assert grads and set(grads) == {f"grad_norm/{k}" for k in history[0]["grad_norms"]}

    from mlflow.tracking import MlflowClient

    saved = json.loads((run.path / MLFLOW_FILE).read_text())
    assert saved["uri"] == f"sqlite:///{(root / 'mlflow.db').resolve().as_posix()}"
    client = MlflowClient(saved["uri"])
    mlrun = client.get_run(saved["run_id"])
    assert mlrun.info.status == "FINISHED"
    assert client.get_experiment(mlrun.info.experiment_id).name == run.spec.name
    for key in ("train_loss", "val_loss", "val_accuracy", "lr"):
        got = sorted((m.step, m.value) for m in client.get_metric_history(saved["run_id"], key))
        assert [s for s, _ in got] == steps, key
        assert [v for _, v in got] == pytest.approx([h[key] for h in history], rel=1e-6)
    params = mlrun.data.params
    assert float(params["train.optimizer.lr"]) == run.spec.train.optimizer.lr
    assert params["model.layers.0.conv2d.filters"] == "4"
    spec_text = client.download_artifacts(saved["run_id"], "spec.yaml", str(root))
    assert deepnet.Spec.from_yaml(spec_text).to_dict() == run.spec.to_dict()


def test_a_tracker_is_checked_before_the_run_starts(tmp_path):
    with pytest.raises(SpecError, match="train.log"):
        deepnet.Spec.from_dict(cnn_spec(**{"train.log": ["csv", "csv"]}))
    with pytest.raises(SpecError, match="wandb"):
        deepnet.Spec.from_dict(cnn_spec(**{"train.log": ["wandb"]}))
