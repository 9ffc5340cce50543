"""Small specs that tests repeat, as plain dicts: a fresh copy on every call, free to change.

Overrides are spec paths, those of `--set` and `tune.space`, set the way `--set` sets
them (deepnet.spec.apply_changes): each value replaces what stands at its path, and the
mappings on the way are made where missing. A path of one key is an ordinary keyword, a
longer one goes in a `**{...}`:

    mlp_spec(epochs=3, seed=1, **{"train.optimizer": {"name": "sgd", "lr": 0.1},
                                  "model.layers[1].dense.units": 8})

`tests/conftest.py` puts this folder on sys.path: `from factory import mlp_spec` works in
every test folder.
"""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors.torch import load_file

import deepnet
from deepnet.spec import Spec, apply_changes


def override(spec: dict, **paths: Any) -> dict:
    """A copy of `spec` with each value set at its spec path, as `--set` sets it (`spec`
    stays as it is):

        override(MLP, seed=1, **{"train.epochs": 12, "model.layers[-1]": {"dense": 7}})
    """
    return apply_changes(spec, paths, Spec)


def spec_dict(data: dict | str, layers: list, *, epochs: int = 2, batch_size: int = 64,
              name: str = "t", seed: int = 0, **overrides: Any) -> dict:
    """A spec of `data` (a mapping, or a source name or path alone) and `layers`."""
    data = {"source": str(data)} if isinstance(data, str | Path) else data
    spec = {"name": name, "seed": seed, "data": data, "model": {"layers": layers},
            "train": {"epochs": epochs, "batch_size": batch_size}}
    return override(spec, **overrides)


def _units(hidden: int | tuple[int, ...] | None) -> tuple[int, ...]:
    if hidden is None:
        return ()
    return (hidden,) if isinstance(hidden, int) else tuple(hidden)


def mlp_layers(hidden: int | tuple[int, ...] | None = 32, outputs: int = 10,
               dropout: float | None = None, flatten: bool = True,
               activation: str = "relu") -> list[dict]:
    """[flatten], then per hidden width a dense layer (and dropout), then `outputs` units."""
    layers: list[dict] = [{"flatten": {}}] if flatten else []
    for units in _units(hidden):
        layers.append({"dense": {"units": units, "activation": activation}})
        if dropout is not None:
            layers.append({"dropout": dropout})
    return [*layers, {"dense": {"units": outputs}}]


def mlp_spec(epochs: int = 2, hidden: int | tuple[int, ...] | None = 32, outputs: int = 10,
             dropout: float | None = None, source: str = "digits", **overrides: Any) -> dict:
    """A multilayer perceptron on the bundled digits (or another source): by default
    flatten, dense 32 relu, dense 10; 2 epochs of 64-sample batches, seed 0."""
    return spec_dict(source, mlp_layers(hidden, outputs, dropout), epochs=epochs, **overrides)


def cnn_spec(epochs: int = 2, filters: int = 8, kernel: int = 3, batchnorm: bool = False,
             pool: int | None = None, hidden: int | None = None, outputs: int = 10,
             source: str = "digits", **overrides: Any) -> dict:
    """A small convolutional network on the digits: conv2d (relu), [batchnorm],
    [maxpool2d], flatten, [dense relu], dense `outputs`."""
    layers: list[dict] = [{"conv2d": {"filters": filters, "kernel": kernel,
                                      "activation": "relu"}}]
    if batchnorm:
        layers.append({"batchnorm": {}})
    if pool is not None:
        layers.append({"maxpool2d": pool})
    layers += mlp_layers(hidden, outputs)
    return spec_dict(source, layers, epochs=epochs, **overrides)


def table_spec(path: str | Path, outputs: int = 2, hidden: int | tuple[int, ...] | None = 8,
               epochs: int = 1, batch_size: int = 16, **overrides: Any) -> dict:
    """An MLP on a table file (CSV, TSV, Parquet): dense 8 relu, dense `outputs`;
    1 epoch of 16-sample batches."""
    return spec_dict(path, mlp_layers(hidden, outputs, flatten=False), epochs=epochs,
                     batch_size=batch_size, **overrides)


def synthetic_data(samples: int = 300, features: int = 5, classes: int = 3,
                   kind: str = "classification", **settings: Any) -> dict:
    """`data` of the seeded synthetic source."""
    return {"source": "synthetic", "synthetic": {"kind": kind, "samples": samples,
                                                 "features": features, "classes": classes,
                                                 **settings}}


def write_spec(path: str | Path, spec: dict) -> Path:
    """`spec` as YAML at `path` (a .yaml file, or a folder to hold spec.yaml)."""
    path = Path(path)
    if path.suffix not in (".yaml", ".yml"):
        path = path / "spec.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def digits_spec(layers: list, data: dict | None = None, **train) -> Spec:
    """A validated spec on the bundled digits, flattened into `layers` (the planted-fault
    tests of diagnose, the report and --auto)."""
    return Spec.from_dict(copy.deepcopy({
        "name": "planted", "seed": 0, "data": {"source": "digits", **(data or {})},
        "model": {"layers": [{"flatten": {}}, *layers]},
        "train": {"batch_size": 64, **train}}))


def kinds(findings) -> list[str]:
    """The kinds of a diagnosis' findings, in order."""
    return [f.kind for f in findings]



def same_tensors(a: str | Path, b: str | Path) -> bool:
    """Whether two run folders hold bit-identical model.safetensors."""
    ta, tb = (load_file(str(Path(p) / "model.safetensors")) for p in (a, b))
    return ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k]) for k in ta)


def kill_then_resume(spec_path: str | Path, out: Path, at: str, **resume) -> Path:
    """`deepnet train spec_path --out out`, killed (SIGKILL) at the fault-injection point
    `at` (DEEPNET_KILL_AT, e.g. "checkpoint:3") before it wrote its model, then resumed
    in this process with deepnet.train(None, resume=out, quiet=True, **resume)."""
    r = subprocess.run([sys.executable, "-m", "deepnet", "train", str(spec_path), "--out",
                        str(out), "--quiet"], env={**os.environ, "DEEPNET_KILL_AT": at},
                       capture_output=True, timeout=300)
    assert r.returncode == -signal.SIGKILL, r.stderr[-2000:]
    assert not (out / "model.safetensors").exists()
    deepnet.train(None, resume=out, quiet=True, **resume)
    return out
