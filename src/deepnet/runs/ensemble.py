"""Ensembles of trained runs: `deepnet ensemble RUN RUN ... --out DIR`.

The folder is run-like: `ensemble.json` lists the members (paths relative to it), with
`results.json` and `report.html`. `deepnet.load(DIR)` returns a Run whose model takes raw
inputs (its preprocessing is the identity), runs every member behind its own saved
preprocessing and returns the log of the members' averaged probabilities, so evaluate,
predict and attack treat it like any run.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from deepnet.core.errors import DeepnetError
from deepnet.data.transforms import Preprocess
from deepnet.runs.files import RunDir
from deepnet.runs.records import ModelMeta
from deepnet.runs.run import Run, load_run
from deepnet.spec import Spec
from deepnet.train.losses import default_loss
from deepnet.train.metrics import probabilities


class Ensemble(nn.Module):
    """Raw inputs -> log of the members' mean class probabilities."""

    def __init__(self, networks: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(networks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = torch.stack([probabilities(m(x)) for m in self.members]).mean(0)
        return torch.log(p.clamp_min(1e-30))


def is_ensemble(path: str | Path) -> bool:
    return RunDir(path).is_ensemble()


def check_members(runs: list, names: list[str]) -> list[str]:
    """Problems that stop these runs from forming an ensemble; warnings are returned."""
    first = runs[0]
    for run, name in zip(runs, names, strict=True):
        if run.task != "classification":
            raise DeepnetError(f"{name}: an ensemble averages class probabilities; this run "
                               f"is a {run.task} run")
        if run.classes != first.classes or run.input_shape != first.input_shape:
            raise DeepnetError(f"{name}: its classes {run.classes} and input shape "
                               f"{run.input_shape} differ from {names[0]}'s ({first.classes}, "
                               f"{first.input_shape}); members must share both")
        if run.encoding.kind != first.encoding.kind:
            raise DeepnetError(f"{name}: it reads {run.encoding.kind} inputs and "
                               f"{names[0]} {first.encoding.kind}; members must agree")
    warnings = []
    splits = {(json.dumps(r.spec.data.model_dump(mode="json"), sort_keys=True), r.spec.seed)
              for r in runs}
    if len(splits) > 1:
        warnings.append("the members were split with different data settings or seeds: "
                        f"the ensemble is tested on {names[0]}'s test split, which may hold "
                        "other members' training rows, so its test metrics may be optimistic")
    return warnings


def load_ensemble(path: str | Path) -> Run:
    """The Run of an ensemble folder (see the module's docstring)."""
    files = RunDir(path)
    runs = [load_run(files.path / m) for m in files.read_ensemble().members]
    check_members(runs, [str(r.path) for r in runs])
    first = runs[0]
    # its outputs are log-probabilities of the classes: the loss is the classifier's
    changes = {"name": f"ensemble-{files.path.name}"}
    if first.spec.train.loss is not None:
        changes["train.loss.name"] = default_loss("classification", len(first.classes))
    spec = Spec.from_dict(first.spec.to_dict(), changes=changes, source=str(files.path))
    model = Ensemble([r.network() for r in runs]).eval()
    shape = (1,) * len(first.input_shape)
    identity = Preprocess("none", np.zeros(shape, np.float32), np.ones(shape, np.float32))
    ranges = [r.meta.x_range for r in runs]
    meta = ModelMeta("classification", first.input_shape, identity.record(),
                     list(first.classes), first.meta.source, first.encoding,
                     None if None in ranges else (min(lo for lo, _ in ranges),
                                                  max(hi for _, hi in ranges)),
                     first.meta.labels)
    return Run(files.path, spec, model, identity, meta, [], files.read_results(), runs)



