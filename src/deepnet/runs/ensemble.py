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

from deepnet.data.transforms import Preprocess
from deepnet.core.errors import CheckpointError, DeepnetError
from deepnet.runs.run import Run, load_run
from deepnet.train.metrics import probabilities

FILE = "ensemble.json"


class Ensemble(nn.Module):
    """Raw inputs -> log of the members' mean class probabilities."""

    def __init__(self, networks: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(networks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = torch.stack([probabilities(m(x)) for m in self.members]).mean(0)
        return torch.log(p.clamp_min(1e-30))


def is_ensemble(path: str | Path) -> bool:
    return (Path(path) / FILE).is_file()


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
        if run.encoding.get("kind") != first.encoding.get("kind"):
            raise DeepnetError(f"{name}: it reads {run.encoding.get('kind')} inputs and "
                               f"{names[0]} {first.encoding.get('kind')}; members must agree")
    warnings = []
    splits = {(json.dumps(r.spec.data.model_dump(mode="json"), sort_keys=True), r.spec.seed)
              for r in runs}
    if len(splits) > 1:
        warnings.append("the members were split with different data settings or seeds: "
                        f"the ensemble is tested on {names[0]}'s test split, which may hold "
                        "other members' training rows, so its test metrics may be optimistic")
    return warnings


def load_ensemble(path: str | Path):
    """The Run of an ensemble folder (see the module's docstring)."""
    path = Path(path)
    try:
        info = json.loads((path / FILE).read_text())
        members = [path / m for m in info["members"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{str(path / FILE)!r} is not a valid ensemble file: {e}") \
            from None
    runs = [load_run(m) for m in members]
    check_members(runs, [str(m) for m in members])
    first = runs[0]
    spec = first.spec.model_copy(update={
        "name": f"ensemble-{path.name}",
        "train": first.spec.train.model_copy(update={
            "loss": first.spec.train.loss.model_copy(update={"name": "cross_entropy"})
            if first.spec.train.loss is not None else None})})
    model = Ensemble([_raw_network(r) for r in runs]).eval()
    shape = (1,) * len(first.input_shape)
    identity = Preprocess("none", np.zeros(shape, np.float32), np.ones(shape, np.float32))
    results_path = path / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    run = Run(path, spec, model, identity, "classification", list(first.classes),
              tuple(first.input_shape), [], results, dict(first.encoding))
    return run


def _raw_network(run) -> nn.Module:
    """The member behind its preprocessing; token ids (no preprocessing) go straight in."""
    if run.encoding.get("kind") == "text":
        return run.model
    return run.network()


def member_runs(run) -> list:
    """The loaded member runs of an ensemble Run (empty for a plain run)."""
    if not is_ensemble(run.path):
        return []
    info = json.loads((Path(run.path) / FILE).read_text())
    return [load_run(Path(run.path) / m) for m in info["members"]]
