"""Run directories: where a run's files live, how they are written and read back.

    runs/<name>-<UTC timestamp>/
      spec.yaml  metrics.jsonl  model.safetensors  checkpoint/  results.json  report.html
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as save_tensors

from deepnet.data.transforms import Preprocess
from deepnet.nn.build import build_model
from deepnet.train.metrics import predicted_classes, probabilities
from deepnet.core.errors import CheckpointError, DataError
from deepnet.core.io import write_bytes_atomic
from deepnet.spec import Spec

FILES = ("spec.yaml", "metrics.jsonl", "model.safetensors", "checkpoint", "results.json",
         "report.html")


def new_run_dir(spec: Spec, out: str | Path | None = None, root: str | Path = "runs") -> Path:
    """A new, empty run directory: `out` if given, else runs/<name>-<UTC timestamp>."""
    if out is not None:
        path = Path(out)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise CheckpointError(
                f"--out {str(path)!r} already exists and is not empty; a run is never "
                "overwritten. Choose another folder, or continue it with --resume."
            )
        path.mkdir(parents=True, exist_ok=True)
        return path
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{spec.name}-{stamp}"
    path, n = base, 1
    while True:
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            n += 1
            path = base.with_name(f"{base.name}-{n}")


def save_model(path: Path, model: torch.nn.Module, meta: dict) -> None:
    """model.safetensors: the weights, with preprocessing and class names as metadata."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    data = save_tensors(tensors, metadata={k: json.dumps(v) for k, v in meta.items()})
    write_bytes_atomic(path, data)


def read_model(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = {k: json.loads(v) for k, v in (f.metadata() or {}).items()}
            return {k: f.get_tensor(k) for k in f.keys()}, meta  # noqa: SIM118
    except FileNotFoundError:
        raise CheckpointError(f"{str(path)!r} not found: is this a finished run?") from None
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{str(path)!r} is corrupt or not a deepnet model: {e}") from None


@dataclass
class Run:
    """A trained run: its network, preprocessing, history and results."""

    path: Path
    spec: Spec
    model: torch.nn.Module
    preprocess: Preprocess
    task: str
    classes: list[str]
    input_shape: tuple[int, ...]
    history: list[dict] = field(default_factory=list)
    results: dict = field(default_factory=dict)
    encoding: dict = field(default_factory=dict)  # how raw files become inputs (data.inputs)

    def network(self) -> torch.nn.Module:
        """The model behind its saved normalisation: it takes raw inputs (for attacks)."""
        net = torch.nn.Sequential(self.preprocess.module(), self.model)
        return net.eval()

    def as_inputs(self, x) -> np.ndarray:
        """Raw inputs as an array of (N, *input_shape); a flat or squeezed layout of the
        same size (digits as (N, 64) or (N, 8, 8)) is reshaped."""
        x = np.asarray(x)
        if x.dtype == object or not np.issubdtype(x.dtype, np.number):
            raise DataError(f"inputs must be numeric; got an array of {x.dtype}")
        want = self.input_shape
        if x.ndim >= 1 and x.shape[1:] != want and x[:1].size == int(np.prod(want)):
            x = x.reshape(len(x), *want)
        if x.shape[1:] != want:
            raise DataError(f"inputs of shape {x.shape[1:]} per sample do not fit this run's "
                            f"model, which takes {want}")
        if self.encoding.get("kind") == "text":
            return x
        return x.astype(np.float32)  # integer or boolean features are numbers too

    @torch.no_grad()
    def predict_outputs(self, x, batch_size: int = 1024) -> torch.Tensor:
        x = self.preprocess(self.as_inputs(x))
        self.model.eval()
        return torch.cat([self.model(torch.as_tensor(x[i:i + batch_size])).float()
                          for i in range(0, len(x), batch_size)]) if len(x) else torch.empty(0)

    def predict_proba(self, x) -> np.ndarray:
        return probabilities(self.predict_outputs(x)).numpy()

    def predict(self, x) -> np.ndarray:
        """Class names (classification) or values (regression) for raw inputs."""
        out = self.predict_outputs(x)
        if self.task == "regression":
            return out.reshape(len(out), -1).squeeze(-1).numpy()
        return np.asarray(self.classes, dtype=object)[predicted_classes(out).numpy()]


def load_run(path: str | Path) -> Run:
    """A finished run from its directory; CheckpointError when files are missing or bad."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"run directory {str(path)!r} not found")
    spec = Spec.from_yaml(path / "spec.yaml")
    tensors, meta = read_model(path / "model.safetensors")
    try:
        shape = tuple(meta["input_shape"])
        model, _ = build_model(spec.model.layers, shape, spec.seed)
        model.load_state_dict(tensors)
        pre = Preprocess.from_json(meta["preprocess"])
    except (KeyError, RuntimeError, TypeError, ValueError) as e:
        raise CheckpointError(f"{str(path / 'model.safetensors')!r} does not match the run's "
                              f"spec.yaml: {e}") from None
    model.eval()
    history = read_history(path)
    results_path = path / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    return Run(path, spec, model, pre, meta["task"], meta.get("classes", []), shape, history,
               results, meta.get("encoding") or {})


def read_history(path: Path) -> list[dict]:
    f = Path(path) / "metrics.jsonl"
    if not f.is_file():
        return []
    return [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
