"""Experiment tracking (`train.log: [csv, tensorboard, mlflow]`): each epoch's losses,
metrics, learning rate, time and per-parameter gradient norms, and the spec, written
through the trackers' own libraries so that their own tools read them:

- csv: `RUN/metrics.csv`, one row per epoch (gradient norms as `grad_norm/<param>`);
- tensorboard: event files in `RUN/tensorboard/` (torch.utils.tensorboard, the
  `tensorboard` extra), the spec as text;
- mlflow: an MLflow run in the experiment named after the spec, at `train.tracking_uri`
  (default: $MLFLOW_TRACKING_URI, else a local SQLite store `mlflow.db` beside the run
  folder), with the spec's values as params and the spec as an artifact (the `mlflow`
  extra). Its run id is kept in `RUN/mlflow.json`, so a resumed run goes on in the same
  MLflow run.

A resumed run logs each epoch once: the trackers start again after the epochs already
in the checkpoint's history (TensorBoard purges later events, MLflow skips the steps it
holds, the CSV is rewritten from the history).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from deepnet.core.errors import SpecError
from deepnet.core.io import write_text_atomic
from deepnet.core.registry import Registry
from deepnet.train.callbacks import Callback

CSV_FILE = "metrics.csv"
TENSORBOARD_DIR = "tensorboard"
MLFLOW_FILE = "mlflow.json"


def flat_logs(logs: dict) -> dict[str, float]:
    """An epoch's logs as one level of numbers: grad_norms become grad_norm/<param>."""
    out = {}
    for k, v in logs.items():
        if isinstance(v, dict):
            out |= {f"grad_norm/{name}": float(x) for name, x in v.items()}
        elif k != "epoch" and isinstance(v, int | float):
            out[k] = float(v)
    return out


def spec_params(spec: dict, prefix: str = "") -> dict[str, str]:
    """The spec's leaves as dotted paths -> text (MLflow params; MLflow's names take no
    brackets, so `model.layers[0].dense.units` is `model.layers.0.dense.units`)."""
    out: dict[str, str] = {}
    items = spec.items() if isinstance(spec, dict) else enumerate(spec)
    for k, v in items:
        path = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict | list) and v:
            out |= spec_params(v, path)
        else:
            out[path] = json.dumps(v) if not isinstance(v, str) else v
    return out


class CsvLog(Callback):
    """RUN/metrics.csv: rewritten whole (atomically) each epoch from the history, so the
    columns are those of every epoch and a resumed run has each epoch once."""

    def __init__(self, run_dir: Path, spec):
        self.path = Path(run_dir) / CSV_FILE

    def _write(self, history: list[dict]) -> None:
        rows = [{"epoch": h["epoch"], **flat_logs(h)} for h in history]
        columns = list(dict.fromkeys(k for r in rows for k in r))
        buf = io.StringIO()
        w = csv.DictWriter(buf, columns, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        write_text_atomic(self.path, buf.getvalue(), durable=False)

    def on_train_begin(self, trainer) -> None:
        self._write(trainer.history)

    def on_epoch_end(self, trainer, logs: dict) -> None:
        self._write(trainer.history)


class TensorBoardLog(Callback):
    """RUN/tensorboard/: one scalar per log key per epoch (step = epoch), the spec as
    text at the start."""

    def __init__(self, run_dir: Path, spec):
        self.folder, self.spec = Path(run_dir) / TENSORBOARD_DIR, spec
        self.writer = None

    def on_train_begin(self, trainer) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # a resumed run: events after the checkpoint's last epoch are dropped
        self.writer = SummaryWriter(str(self.folder), purge_step=trainer.epoch + 1
                                    if trainer.epoch else None)
        if trainer.epoch == 0:
            self.writer.add_text("spec", "```\n" + self.spec.to_yaml() + "\n```", 0)

    def on_epoch_end(self, trainer, logs: dict) -> None:
        for k, v in flat_logs(logs).items():
            self.writer.add_scalar(k, v, logs["epoch"])
        self.writer.flush()

    def on_train_end(self, trainer) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    on_train_abort = on_train_end


class MlflowLog(Callback):
    """An MLflow run: params (the spec's values), the spec as an artifact, one metric
    step per epoch."""

    def __init__(self, run_dir: Path, spec):
        self.run_dir, self.spec = Path(run_dir), spec
        self.uri = spec.train.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or \
            f"sqlite:///{(self.run_dir.resolve().parent / 'mlflow.db').as_posix()}"
        self.client = self.run_id = None

    def on_train_begin(self, trainer) -> None:
        from mlflow.tracking import MlflowClient

        for name in ("mlflow", "alembic"):  # their INFO lines (database set-up) are noise
            logging.getLogger(name).setLevel(logging.WARNING)
        self.client = MlflowClient(self.uri)
        saved = self.run_dir / MLFLOW_FILE
        if saved.is_file():  # a resumed run goes on in its MLflow run
            self.run_id = json.loads(saved.read_text())["run_id"]
            self.client.update_run(self.run_id, status="RUNNING")
            logged = {m.step for m in self.client.get_metric_history(self.run_id,
                                                                     "val_loss")}
            for h in trainer.history:
                if h["epoch"] not in logged:
                    self._log(h)
            return
        name = self.spec.name
        found = self.client.get_experiment_by_name(name)
        experiment = found.experiment_id if found else self.client.create_experiment(
            name, artifact_location=self._artifacts())
        run = self.client.create_run(experiment, run_name=self.run_dir.name,
                                     tags={"deepnet.run_dir": str(self.run_dir.resolve())})
        self.run_id = run.info.run_id
        write_text_atomic(saved, json.dumps({"uri": self.uri, "run_id": self.run_id}) + "\n")
        from mlflow.entities import Param

        params = [Param(k, v[:6000]) for k, v in spec_params(self.spec.to_dict()).items()]
        for i in range(0, len(params), 100):  # MLflow takes 100 params per batch
            self.client.log_batch(self.run_id, params=params[i:i + 100])
        self.client.log_text(self.run_id, self.spec.to_yaml(), "spec.yaml")

    def _artifacts(self) -> str | None:
        """Artifacts of a local SQLite store go beside it (MLflow's default would be
        ./mlruns in whatever folder the command runs from); a server decides its own."""
        if not self.uri.startswith("sqlite:///"):
            return None
        return (Path(self.uri.removeprefix("sqlite:///")).parent / "mlartifacts").as_uri()

    def _log(self, logs: dict) -> None:
        from mlflow.entities import Metric

        step, stamp = logs["epoch"], int(time.time() * 1000)
        metrics = [Metric(k, v, stamp, step) for k, v in flat_logs(logs).items()]
        for i in range(0, len(metrics), 1000):  # MLflow takes 1000 metrics per batch
            self.client.log_batch(self.run_id, metrics=metrics[i:i + 1000])

    def on_epoch_end(self, trainer, logs: dict) -> None:
        self._log(logs)

    def on_train_end(self, trainer) -> None:
        if self.run_id is not None:
            self.client.set_terminated(self.run_id, "FINISHED")

    def on_train_abort(self, trainer) -> None:
        if self.run_id is not None:
            self.client.set_terminated(self.run_id, "KILLED")


# name -> (the callback class, the module it needs, the extra that installs it)
TRACKERS: Registry[tuple[type[Callback], str | None, str | None]] = Registry("tracker", {
    "csv": (CsvLog, None, None),
    "tensorboard": (TensorBoardLog, "tensorboard", "tensorboard"),
    "mlflow": (MlflowLog, "mlflow", "mlflow"),
})


def check_trackers(names: list[str]) -> None:
    """SpecError (exit 2) when a tracker's library is missing: before the run starts."""
    import importlib.util

    missing = []
    for n in names:
        _, module, extra = TRACKERS.get(n)
        if module is not None and importlib.util.find_spec(module) is None:
            missing.append((n, extra))
    if missing:
        raise SpecError("train.log: " + "; ".join(
            f"{n} needs its library: pip install 'deepnet[{extra}]'" for n, extra in missing))


def make_trackers(names: list[str], run_dir: Path, spec: Any) -> list[Callback]:
    return [TRACKERS.get(n)[0](run_dir, spec) for n in names]
