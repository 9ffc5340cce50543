"""What a diagnosis says: findings with evidence and a remedy, and the facts of a run that
the detectors read. Remedies are spec changes `{path: value}`, applied with `apply_changes`."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from deepnet.core import html
from deepnet.nn.tree import layer_tree, spec_items
from deepnet.runs.records import Results
from deepnet.spec import Spec
from deepnet.train.metrics import DEFAULT_METRICS

KINDS = ("diverged", "exploding_gradients", "vanishing_gradients", "unstable_training",
         "dead_units", "label_noise", "underfitting", "overfitting",
         "healthy")  # also the order of priority
SEVERITIES = ("info", "warning", "critical")


@dataclass
class Remedy:
    """Concrete spec changes (`{"train.optimizer.lr": 0.0003}`) and a sentence on why."""

    changes: dict[str, Any]
    text: str


OPS = {">=": lambda v, t: v >= t, ">": lambda v, t: v > t, "<=": lambda v, t: v <= t,
       "<": lambda v, t: v < t}


@dataclass(frozen=True)
class Check:
    """One rule a detector applied: `metric op threshold` measured over `epochs`; a
    finding's evidence lists the checks that made it (`evidence["checks"]`), the healthy
    finding every check that was made."""

    metric: str  # what was measured, e.g. "train_accuracy - val_accuracy"
    value: float  # the measured value (rounded)
    op: str  # ">=", ">", "<=" or "<": the condition the rule fires on
    threshold: float  # the named constant the value is compared with
    epochs: tuple[int, int]  # (first, last) epoch read, 1-based

    def __post_init__(self):
        if self.op not in OPS:
            raise ValueError(f"check op {self.op!r}: expected one of {list(OPS)}")
        value = float(self.value)
        object.__setattr__(self, "value", rounded(value) if math.isfinite(value) else value)

    @property
    def fired(self) -> bool:
        return bool(OPS[self.op](self.value, self.threshold))  # False for NaN

    def to_dict(self) -> dict:
        return {"metric": self.metric, "value": self.value, "op": self.op,
                "threshold": self.threshold, "epochs": list(self.epochs), "fired": self.fired}


@dataclass
class Finding:
    kind: str  # one of KINDS
    severity: str  # info | warning | critical
    evidence: dict[str, Any]  # the numbers from the run that show it; "checks": its rules
    explanation: str  # one or two sentences a newcomer understands
    remedy: Remedy

    def __post_init__(self):
        if self.kind not in KINDS or self.severity not in SEVERITIES:
            raise ValueError(f"finding kind {self.kind!r} / severity {self.severity!r}: "
                             f"expected one of {KINDS} / {SEVERITIES}")

    def to_dict(self) -> dict:
        return _jsonable(asdict(self))

    def _repr_html_(self) -> str:
        return Findings([self])._repr_html_()

    @property
    def rank(self) -> tuple[int, int]:
        """Sort key: most severe first, then by KINDS order."""
        return (-SEVERITIES.index(self.severity), KINDS.index(self.kind))


class Findings(list):
    """The findings of a diagnosis (a list of Finding, most severe first), shown in a
    notebook as a table: kind, severity, explanation and remedy."""

    def __repr__(self) -> str:
        return f"Findings([{', '.join(f'{f.kind} ({f.severity})' for f in self)}])"

    def _repr_html_(self) -> str:
        return html.table(["kind", "severity", "what it means", "what to change"],
                          [(f.kind, f.severity, f.explanation, f.remedy.text) for f in self])


@dataclass
class Facts:
    """What the detectors may read about a run: all plain data, plus the model and a
    batch of validation inputs for the detectors that look inside the network."""

    spec: Any  # the run's resolved Spec
    history: list[dict]
    results: Results = field(default_factory=Results)
    task: str = "classification"
    n_classes: int = 0
    input_shape: tuple[int, ...] = ()  # per sample
    model: Any = None  # torch.nn.Module, or None
    val_x: np.ndarray | None = None  # preprocessed validation inputs, or None
    # what a detector measured inside the model on val_x, kept for the next one that asks
    # (the dead-unit and saturation checks run as detectors and again for a healthy run)
    inside: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def metric(self) -> str:
        metrics = self.spec.train.metrics or []
        return metrics[0] if metrics else DEFAULT_METRICS[self.task][0]

    def series(self, key: str) -> np.ndarray:
        """One logged value per epoch (NaN where missing or not a number)."""
        out = []
        for h in self.history:
            v = h.get(key)
            out.append(float(v) if isinstance(v, int | float) else math.nan)
        return np.asarray(out, dtype=np.float64)

    @property
    def kept_epoch(self) -> int:
        """The epoch whose weights the run kept (1-based): the best one when it keeps the
        best (train.keep; by default under early stopping), else the last."""
        n = len(self.history)
        kept = self.results.best_epoch if self.spec.train.keeps_best else None
        return min(max(kept or n, 1), n) if n else 0


def rounded(x: float, digits: int = 4) -> float:
    """A number for evidence: a few significant digits, JSON-safe."""
    x = float(x)
    if not math.isfinite(x) or x == 0:
        return x if math.isfinite(x) else str(x)  # type: ignore[return-value]
    return float(f"{x:.{digits}g}")


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return _jsonable(x.item())
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return x


# ----------------------------------------------------------------------------- changes
def apply_changes(spec, changes: dict[str, Any]):
    """A new Spec with each `path: value` set (paths as in `--set`; missing mapping keys
    are created). The given spec is not changed."""
    return Spec.from_dict(spec.to_dict(), changes=changes, source="the remedy's spec")


def layer_items(spec) -> list[tuple[str, str, dict]]:
    """(spec path, layer type, arguments as plain data) of every layer item in the spec,
    nested ones included: `model.layers[2].repeat.layers[0]` is shared by all the repeats."""
    return [(n.item_path, n.type, n.args.model_dump(mode="json"))
            for n in spec_items(layer_tree(spec.model.layers))]


AFFINE = ("dense", "conv1d", "conv2d")  # the layer types with a weight matrix or kernel


def after_hidden(spec, make) -> list | None:
    """The spec's top-level layer list with `make(item)` inserted after every hidden
    dense/conv item (all but the last, the output); None when there is none."""
    layers = spec.to_dict()["model"]["layers"]
    hidden = [i for i, item in enumerate(layers) if next(iter(item)) in AFFINE][:-1]
    if not hidden:
        return None
    return [x for i, item in enumerate(layers)
            for x in ([item, make(item)] if i in hidden else [item])]
