"""`Run`, a trained run in memory, and `load_run`, which reads one from its directory
(the files and their records: deepnet.runs.files, deepnet.runs.records)."""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from deepnet.core import html
from deepnet.core.errors import CheckpointError, DataError, SpecError
from deepnet.core.progress import bar
from deepnet.data.checks import (
    INPUT_ADVICE,
    check_finite,
    check_numeric,
    encode_target,
    label_key,
    warn_outside,
)
from deepnet.data.encoding import Encoding, SeriesEncoding, feature_names
from deepnet.data.inputs import given_inputs
from deepnet.data.memory import as_array, as_frame, is_table
from deepnet.data.series import continue_series
from deepnet.data.transforms import Preprocess
from deepnet.runs.files import MODEL, SPEC, RunDir
from deepnet.runs.records import ModelMeta, Results
from deepnet.spec import Spec
from deepnet.train.decision import decide
from deepnet.train.metrics import probabilities
from deepnet.train.network import build_network

PROGRESS_BATCHES = 16  # predictions of this many batches or more show progress


@dataclass
class Run:
    """A trained run: its network, preprocessing, history and results."""

    path: Path
    spec: Spec
    model: torch.nn.Module
    preprocess: Preprocess  # restored from meta.preprocess, the input transform included
    meta: ModelMeta  # what model.safetensors says about the model
    history: list[dict] = field(default_factory=list)  # metrics.jsonl, one dict per epoch
    results: Results = field(default_factory=Results)
    members: list[Run] = field(default_factory=list)  # an ensemble's member runs

    def __repr__(self) -> str:
        test = ", ".join(f"{k} {v:.4g}" for k, v in self.results.test.items())
        what = f"{len(self.classes)} classes" if self.task == "classification" else "regression"
        return (f"Run({str(self.path)!r}, {self.spec.name}, {what}, input "
                f"{tuple(self.input_shape)}, {self.results.epochs or 0} epochs"
                + (f", test {test}" if test else "") + ")")

    def _repr_html_(self) -> str:
        """The run in a notebook: its results, test metrics and learning curve."""
        r = self.results
        facts = {"path": str(self.path), "task": self.task, "classes": len(self.classes) or None,
                 "input shape": tuple(self.input_shape), "epochs": r.epochs,
                 "kept epoch": r.best_epoch, "stopped": r.stop_reason, "seconds": r.seconds}
        metric = (self.spec.train.metrics or ["loss"])[0]
        curves = [html.line_chart({f"{p}_{key}": [float(h.get(f"{p}_{key}", math.nan))
                                                  for h in self.history]
                                   for p in ("train", "val")}, key, marker=r.best_epoch)
                  for key in dict.fromkeys(("loss", metric))]
        return html.section(f"deepnet run {self.spec.name}", html.pairs(facts),
                            html.table(["test metric", "value"], r.test.items()) if r.test
                            else "", *curves)

    @property
    def files(self) -> RunDir:
        """The run's directory: its files, read and written (deepnet.runs.files)."""
        return RunDir(self.path)

    @property
    def task(self) -> str:
        return self.meta.task

    @property
    def classes(self) -> list[str]:
        return self.meta.classes

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.meta.input_shape

    @property
    def encoding(self) -> Encoding:
        """How raw files become inputs (deepnet.data.inputs)."""
        return self.meta.encoding

    def network(self) -> torch.nn.Module:
        """The model behind its saved normalisation: it takes raw inputs (attacks, an
        ensemble's members, export); token ids (no preprocessing) go straight in."""
        if self.encoding.kind == "text":
            return self.model.eval()
        net = torch.nn.Sequential(self.preprocess.module(), self.model)
        return net.eval()

    @property
    def labels(self) -> np.ndarray:
        """The classes as the training labels gave them, in the order of `classes` and
        of predict_proba's columns: ints stay ints, strings strings (a run from before
        labels were saved: the class names)."""
        labels = np.asarray(self.meta.labels if self.meta.labels is not None else self.classes)
        return labels.astype(object) if labels.dtype.kind in "US" else labels

    def targets(self, y, where: str = "labels") -> np.ndarray:
        """Labels as the model's targets: class indices (from labels of the training
        labels' kind, or from class numbers 0..k-1), or regression values; a DataError
        naming labels that are not classes of this run."""
        y = np.asarray(y)
        if self.task == "regression":
            return encode_target(y, "regression", where)[0]
        index = {name: i for i, name in enumerate(self.classes)}
        keys = [label_key(v) for v in y]
        unknown = sorted({k for k in keys if k not in index})
        if unknown and all(k.isdigit() and int(k) < len(index) for k in keys) and \
                not any(k in index for k in keys):
            return np.asarray([int(k) for k in keys], dtype=np.int64)  # class numbers
        if unknown:
            raise DataError(f"{where}: labels {unknown[:5]} are not classes of this run "
                            f"({', '.join(self.classes)})")
        return np.asarray([index[k] for k in keys], dtype=np.int64)

    def as_inputs(self, x, where: str = "inputs") -> np.ndarray:
        """Raw inputs as an array of (N, *input_shape); a flat or squeezed layout of the
        same size (digits as (N, 64) or (N, 8, 8)) is reshaped. A DataFrame (or a dict of
        columns) is read by column name with the run's encoding (data.inputs.given_inputs):
        a missing column is a DataError naming it, other columns are ignored with an
        IgnoredColumnsWarning. A DataError for inputs that are not real numbers, or
        (listing the rows) not finite float32 ones."""
        if is_table(x):
            x = given_inputs(self.encoding, x, where=where)[0]
        x = as_array(x, where)
        check_numeric(x, where, "inputs")
        want = self.input_shape
        if x.ndim >= 1 and x.shape[1:] != want and x[:1].size == int(np.prod(want)):
            x = x.reshape(len(x), *want)
        if x.shape[1:] != want:
            raise DataError(f"{where}: inputs of shape {x.shape[1:]} per sample do not fit "
                            f"this run's model, which takes {want}")
        check_finite(x, where, names=feature_names(self.encoding), advice=INPUT_ADVICE)
        if self.encoding.kind == "text":
            return x
        return x.astype(np.float32)  # integer or boolean features are numbers too

    @torch.no_grad()
    def predict_outputs(self, x, batch_size: int = 1024, where: str = "inputs") -> torch.Tensor:
        x = self.preprocess(self.as_inputs(x, where))
        self.model.eval()
        starts = range(0, len(x), batch_size)
        if not starts:
            return torch.empty(0)
        with bar("predict", len(starts), "batches") if len(starts) >= PROGRESS_BATCHES \
                else nullcontext() as b:
            outs = []
            for i in starts:
                outs.append(self.model(torch.as_tensor(x[i:i + batch_size])).float())
                if b is not None:
                    b.advance()
        return torch.cat(outs)

    def predict_proba(self, x, where: str = "inputs") -> np.ndarray:
        """Class probabilities (N, classes) for raw inputs (arrays, tensors, a DataFrame
        by column name); column j is the class `labels[j]` (`classes[j]` by name): the
        labels sorted, numbers by value before strings. An InputRangeWarning names the rows
        outside the training inputs' range."""
        x = self.as_inputs(x, where)
        if not len(x):
            return np.zeros((0, len(self.classes)), np.float32)
        warn_outside(x, self.meta.x_range, where, feature_names(self.encoding))
        return probabilities(self.predict_outputs(x)).numpy()

    def predict(self, x, where: str = "inputs") -> np.ndarray:
        """Labels (classification: of the type and values of the training labels, see
        `labels`) or values (regression) for raw inputs (arrays, tensors, a DataFrame by
        column name); an InputRangeWarning names the rows outside the training inputs'
        range. A forecasting run (data.series) continues the series it is given
        (`forecast`)."""
        if isinstance(self.encoding, SeriesEncoding):
            return self.forecast(x, where)
        x = self.as_inputs(x, where)
        if not len(x):
            return (np.zeros(0, np.float32) if self.task == "regression"
                    else self.labels[np.zeros(0, np.int64)])
        warn_outside(x, self.meta.x_range, where, feature_names(self.encoding))
        return self.decode(self.predict_outputs(x))

    def forecast(self, series, where: str = "series") -> np.ndarray:
        """The next `horizon` values of a series, forecast from its last `window` steps:
        `series` is a DataFrame (or a dict) with the run's series columns, or an array of
        the target's values (T,) or of the columns' (T, columns). A DataError for a
        series too short, or with missing values."""
        enc = self.encoding
        if not isinstance(enc, SeriesEncoding):
            raise DataError(f"{where}: this run does not forecast a series (it was trained "
                            f"on {enc.kind} data); use predict")
        if not is_table(series):
            values = as_array(series, where)
            values = values.reshape(len(values), -1)
            if values.shape[1] != len(enc.columns):
                raise DataError(f"{where}: an array of shape {values.shape} for a series of "
                                f"{len(enc.columns)} column(s) ({', '.join(enc.columns)})")
            series = dict(zip(enc.columns, values.T, strict=True))
        x, level = continue_series(enc, as_frame(series, where), where)
        return enc.decode(self.predict_outputs(x, where=where).numpy(), level)[0]

    def decode(self, outputs: torch.Tensor) -> np.ndarray:
        """The model's outputs as predictions: labels (see `labels`) or values."""
        if self.task == "regression":
            return outputs.reshape(len(outputs), -1).squeeze(-1).numpy()
        return self.labels[decide(outputs, self.meta.threshold).numpy()]


def load_run(path: str | Path) -> Run:
    """A finished run from its directory; CheckpointError when files are missing or bad.
    The preprocessing (with any input-transformation defense) and the encoding come from
    the model's saved metadata, never from the spec or the data."""
    files = RunDir(path)
    if not files.path.is_dir():
        raise CheckpointError(f"run directory {str(files.path)!r} not found")
    spec = files.read_spec()
    tensors, meta = files.read_model()
    try:
        model, _ = build_network(spec.model, meta.input_shape, meta.encoding, spec.seed)
        model.load_state_dict(tensors)
        pre = Preprocess.from_record(meta.preprocess)
    except (KeyError, RuntimeError, TypeError, ValueError, SpecError) as e:
        raise CheckpointError(f"{str(files.file(MODEL))!r} does not match the run's "
                              f"{SPEC}: {e}") from None
    model.eval()
    return Run(files.path, spec, model, pre, meta, files.read_history(), files.read_results())
