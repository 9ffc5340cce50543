"""The typed records of a run directory, each with `to_json()` and `from_json(d)`
(deepnet.core.records: verified field by field). Which file holds which record, and how
it is written and read: deepnet.runs.files.

    DataInfo     data.json                 data passed in Python: kind, shape, hash
    Results      results.json              test metrics, how training ended; an ensemble's
                                           members, warnings and member metrics
    ModelMeta    model.safetensors         task, classes, input shape, preprocessing,
                                           source, encoding, valid input range (versioned)
    TeacherMeta  teacher.safetensors       the distillation teacher (versioned)
    AuditReport  audit.json                the data audit
    Robustness   robustness/results.json   every attack on the run
    EnsembleInfo ensemble.json             an ensemble's members
    Diagnosis    diagnosis.json            the findings of the last report, and the
                                           hashes of what they were made from
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Annotated, Any, Literal

from pydantic import Field

from deepnet.core import html
from deepnet.core.errors import CheckpointError
from deepnet.core.records import JsonRecord
from deepnet.data.encoding import ArrayEncoding, Encoding, PreprocessRecord, saved_encoding

# The format of the metadata in model files: 1, runs of deepnet before the format was
# written (read as 1 when absent); 2, the format itself added; 3, the file carries the
# SHA-256 of its metadata and tensors (deepnet.runs.files). A newer one is refused.
FORMAT = 3


# ----------------------------------------------------------------------------- results.json
TRAINING = ("epochs", "best_epoch", "stop_reason", "stop_message", "seconds",
            "seconds_per_epoch", "timings", "device", "threads", "samples", "rows_per_epoch",
            "versions")
DECISIONS = ("per_class", "threshold", "calibration")  # written when the run has them
ENSEMBLE = ("members", "warnings", "member_test")


@dataclass
class Results(JsonRecord):
    """results.json. A trained run's has `test` and the TRAINING fields, an ensemble's
    `test` and the ENSEMBLE fields, and either the DECISIONS it has; the other fields
    keep their defaults."""

    test: dict[str, float] = field(default_factory=dict)  # metric -> value on the test split
    epochs: int | None = None  # epochs trained
    best_epoch: int | None = None  # the epoch whose weights were kept
    stop_reason: str | None = None  # completed, early_stopping, diverged, ...
    stop_message: str | None = None
    seconds: float | None = None  # the training loop alone (the epochs)
    seconds_per_epoch: float | None = None
    # seconds of each phase of `deepnet.train`, in order: prepare (read and split the
    # data), build (the network, checked against the data), setup (the trainer), train
    # (= seconds), evaluate (the test split), write (model and results); the Run that
    # deepnet.train returns (and train --json) adds attacks and report, drawn after it
    timings: dict[str, float] = field(default_factory=dict)
    device: str | None = None
    threads: int | None = None  # the CPU threads it trained with (train.threads)
    samples: dict[str, int] = field(default_factory=dict)  # rows per split
    rows_per_epoch: int | None = None  # training rows an epoch trains on (train.drop_last)
    versions: dict[str, str] = field(default_factory=dict)  # deepnet, torch, numpy, python
    members: list[str] = field(default_factory=list)  # ensemble: paths relative to it
    warnings: list[str] = field(default_factory=list)  # ensemble
    member_test: dict[str, dict[str, float]] = field(default_factory=dict)  # ensemble
    # classification: {class: {precision, recall, f1, support}} on the test split
    per_class: dict[str, dict[str, float | int]] = field(default_factory=dict)
    # train.threshold: {value, chosen (how), val and test: {precision, recall, f1}}
    threshold: dict[str, Any] | None = None
    # train.calibrate: {method, temperature, and the validation NLL and ECE before/after}
    calibration: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The keys that apply: `test`, plus TRAINING (a trained run) or ENSEMBLE."""
        d = super().to_json()
        keep = {"test", *(TRAINING if self.epochs is not None else ()),
                *(ENSEMBLE if self.members else ()), *(k for k in DECISIONS if d.get(k))}
        return {k: v for k, v in d.items() if k in keep}


# ----------------------------------------------------------------------------- data.json
@dataclass(frozen=True)
class DataInfo(JsonRecord):
    """data.json: the data a run was trained on when they were passed in Python
    (deepnet.data.memory.describe): enough to recognise them, not the data."""

    kind: str  # DataFrame, (X, y) or dict
    rows: int
    sha256: str  # of the content: the same data give the same hash
    columns: dict[str, str] | None = None  # a table's column -> dtype
    shape: dict[str, list[int]] | None = None  # arrays: x and y
    dtypes: dict[str, str] | None = None  # arrays: x and y


# ----------------------------------------------------------------------------- model files
@dataclass
class _Versioned(JsonRecord):
    """Metadata of a model file, with the format it was written in."""

    format: int = field(default=FORMAT, kw_only=True)

    @classmethod
    def from_json(cls, d: Any):
        """The record; a file without `format` is format 1; a CheckpointError for a format
        newer than this deepnet reads."""
        if isinstance(d, dict):
            d = {"format": 1, **d}
            if isinstance(d["format"], int) and d["format"] > FORMAT:
                raise CheckpointError(
                    f"it was written by a newer deepnet (model format {d['format']}; this "
                    f"deepnet reads formats 1 to {FORMAT}): upgrade deepnet (pip install -U "
                    "deepnet) to read it")
        return super().from_json(d)


@dataclass
class ModelMeta(_Versioned):
    """model.safetensors: what it takes to use the weights on raw inputs."""

    task: Literal["classification", "regression"]
    input_shape: tuple[int, ...]  # per sample
    preprocess: PreprocessRecord  # deepnet.data.transforms.Preprocess.record()
    classes: list[str] = field(default_factory=list)  # classification only
    source: str = ""
    encoding: Encoding = field(default_factory=ArrayEncoding)  # how raw files become inputs
    x_range: tuple[float, float] | None = None  # raw training inputs' [min, max]; attacks
    # the training label of each class as the data gave it; None: the class names
    labels: list[bool | int | float | str] | None = None
    # a binary classifier's decision threshold on the probability of class 1, chosen on
    # the validation split (train.threshold); None: the most probable class
    threshold: float | None = None

    @classmethod
    def from_json(cls, d: Any) -> ModelMeta:
        if isinstance(d, dict):  # format 1 may have saved {}
            d = {**d, "encoding": saved_encoding(d.get("encoding"))}
        return super().from_json(d)


@dataclass
class TeacherMeta(_Versioned):
    """teacher.safetensors: the teacher of defensive distillation."""

    temperature: float
    epochs: int
    stop_reason: str
    role: Literal["distillation teacher"] = "distillation teacher"


# ----------------------------------------------------------------------------- audit.json
@dataclass(frozen=True)
class LabelIssue(JsonRecord):
    """A row whose label looks wrong: its label, the class the audit's models suggest,
    and their out-of-fold probability of the label."""

    row: int
    label: str
    suggested: str
    label_probability: float


@dataclass(frozen=True)
class Outlier(JsonRecord):
    """A row far from all others: the robust z-score of its mean k-NN distance."""

    row: int
    score: float


@dataclass(frozen=True)
class DuplicateGroup(JsonRecord):
    """Rows that are the same sample: identical bytes (exact) or nearly so."""

    rows: tuple[int, ...]
    exact: bool
    same_label: bool


@dataclass(frozen=True)
class Leak(JsonRecord):
    """A val/test row with a copy (train_row) in the training split."""

    row: int
    split: str
    train_row: int
    exact: bool


@dataclass(frozen=True)
class Imbalance(JsonRecord):
    """Class counts; the largest / smallest count; the classes under half their share."""

    counts: dict[str, int]
    ratio: float
    imbalanced: bool
    minority: tuple[str, ...] = ()


@dataclass(frozen=True)
class ShiftedFeature(JsonRecord):
    """A feature, or the target (by its name), distributed differently in train and test:
    the Kolmogorov-Smirnov statistic; for a class target Cramer's V of the class counts."""

    feature: str
    statistic: float
    p_value: float  # a feature's Bonferroni-corrected over the features


@dataclass(frozen=True)
class ConstantFeature(JsonRecord):
    feature: str
    value: float


@dataclass
class AuditReport(JsonRecord):
    """What `deepnet audit` finds, in AUDIT_KEYS order; rows are 0-based source rows."""

    label_issues: list[LabelIssue] = field(default_factory=list)
    outliers: list[Outlier] = field(default_factory=list)
    duplicates: list[DuplicateGroup] = field(default_factory=list)
    leakage: list[Leak] = field(default_factory=list)
    imbalance: Imbalance | None = None  # None for regression
    shift: list[ShiftedFeature] = field(default_factory=list)
    constant_features: list[ConstantFeature] = field(default_factory=list)

    @classmethod
    def from_json(cls, d: Any) -> AuditReport:
        missing = [k for k in AUDIT_KEYS if k not in d] if isinstance(d, dict) else []
        if missing:
            raise ValueError(f"keys {missing} are missing; expected {', '.join(AUDIT_KEYS)}")
        return super().from_json(d)

    def to_dict(self) -> dict:
        """The JSON of the audit (exactly AUDIT_KEYS), as `deepnet audit --json` prints it."""
        return self.to_json()

    def __repr__(self) -> str:
        return ("AuditReport(" + ", ".join(f"{len(getattr(self, k))} {k.replace('_', ' ')}"
                                          for k in ("label_issues", "outliers", "duplicates",
                                                    "leakage", "shift", "constant_features"))
                + (f", imbalance ratio {self.imbalance.ratio:.3g}" if self.imbalance else "")
                + ")")

    def _repr_html_(self) -> str:
        """The audit in a notebook: a table per kind of finding."""
        parts = [html.pairs({k.replace("_", " "): len(getattr(self, k)) for k in
                             ("label_issues", "outliers", "duplicates", "leakage", "shift",
                              "constant_features")})]
        if self.imbalance is not None:
            parts.append(html.section("classes", html.table(
                ["class", "rows"], self.imbalance.counts.items())))
        for key, items in (("label_issues", self.label_issues), ("outliers", self.outliers),
                           ("duplicates", self.duplicates), ("leakage", self.leakage),
                           ("shift", self.shift), ("constant_features", self.constant_features)):
            if items:
                names = [f.name for f in fields(items[0])]
                parts.append(html.section(key.replace("_", " "), html.table(
                    names, [[getattr(i, n) for n in names] for i in items], limit=20)))
        return html.section("deepnet audit", *parts)

    def rows_to_drop(self) -> list[int]:
        """Source rows a cleaned copy leaves out: likely label errors, the extra copies of
        duplicates, and the training-side copy of every leaked sample."""
        drop = {r.row for r in self.label_issues} | {r.train_row for r in self.leakage}
        held_out = {r.row for r in self.leakage}  # val/test rows with a training copy
        for g in self.duplicates:
            if held_out & set(g.rows):  # keep the held-out copies, drop every training one
                drop |= {r for r in g.rows if r not in held_out}
            else:
                drop |= set(g.rows[1:])
        return sorted(drop)

    def summary(self) -> list[tuple[str, str]]:
        """One line per check, for people."""
        imb = self.imbalance
        return [
            ("label issues", f"{len(self.label_issues)} rows whose label looks wrong"),
            ("outliers", f"{len(self.outliers)} rows far from all others"),
            ("duplicates", f"{len(self.duplicates)} groups "
                           f"({sum(g.exact for g in self.duplicates)} exact)"),
            ("leakage", f"{len(self.leakage)} samples on both sides of the split"),
            ("imbalance", "n/a (regression)" if imb is None else
             f"largest/smallest class {imb.ratio:.3g}"
             + (" (imbalanced)" if imb.imbalanced else "")),
            ("shift", f"{len(self.shift)} features distributed differently in train and test"),
            ("constant features", f"{len(self.constant_features)}"),
        ]


AUDIT_KEYS = tuple(f.name for f in fields(AuditReport))


# ----------------------------------------------------------------------------- robustness
@dataclass
class AttackRecord(JsonRecord):
    """One attack on the run (deepnet.robust.evaluate.AttackResult without its examples)."""

    method: str
    variant: str  # naive, or the adaptive attack's name
    norm: str
    eps: float | None  # None: minimal perturbations (cw, deepfool)
    targeted: bool
    target: int | str | None
    n: int
    clean_accuracy: float
    robust_accuracy: float
    success_rate: float
    mean_perturbation: float
    max_perturbation: float
    seconds: float
    options: dict[str, Any] = field(default_factory=dict)
    curve: list[tuple[float, float]] = field(default_factory=list)  # (eps, robust accuracy)

    def __repr__(self) -> str:
        eps = "minimal" if self.eps is None else f"{self.norm} eps {self.eps:g}"
        return (f"{type(self).__name__}({self.method}, {self.variant}, {eps}: accuracy "
                f"{self.clean_accuracy:.4g} -> {self.robust_accuracy:.4g} on {self.n} examples)")

    def _repr_html_(self) -> str:
        """The attack in a notebook: its figures and its accuracy curve."""
        facts = {"attack": self.method, "variant": self.variant, "norm": self.norm,
                 "eps": self.eps, "targeted": self.targeted or None, "examples": self.n,
                 "clean accuracy": self.clean_accuracy, "robust accuracy": self.robust_accuracy,
                 "success rate": self.success_rate, "mean perturbation": self.mean_perturbation,
                 "max perturbation": self.max_perturbation, "seconds": self.seconds}
        curve = html.table(["eps", "robust accuracy"], self.curve) if self.curve else ""
        return html.section("deepnet attack", html.pairs(facts), curve)

    @property
    def key(self) -> tuple:
        """What makes two records the same attack (a rerun replaces the older one)."""
        return self.method, self.variant, self.norm, self.eps, self.targeted, self.target


@dataclass
class Robustness(JsonRecord):
    """robustness/results.json: every attack run on the run, in the order first run."""

    attacks: list[AttackRecord] = field(default_factory=list)

    def merge(self, new: list[AttackRecord]) -> Robustness:
        """These attacks and `new`, a rerun of the same attack replaced by the new one."""
        keys = {a.key for a in new}
        return Robustness([a for a in self.attacks if a.key not in keys] + list(new))


# ----------------------------------------------------------------------------- ensemble.json
@dataclass
class EnsembleInfo(JsonRecord):
    """ensemble.json: the member runs (paths relative to the ensemble folder), combined
    by the mean of their class probabilities."""

    members: Annotated[list[str], Field(min_length=2)]
    kind: Literal["ensemble"] = "ensemble"
    combine: Literal["mean_probability"] = "mean_probability"


# ----------------------------------------------------------------------------- diagnosis.json
@dataclass
class SavedRemedy(JsonRecord):
    changes: dict[str, Any]  # spec path -> value
    text: str


@dataclass
class SavedFinding(JsonRecord):
    """A finding as deepnet.diagnose's Finding.to_dict() writes it."""

    kind: str
    severity: str
    evidence: dict[str, Any]
    explanation: str
    remedy: SavedRemedy


@dataclass
class Diagnosis(JsonRecord):
    """diagnosis.json: the findings drawn in report.html, kept so that `deepnet diagnose
    RUN` prints them without loading the model; used only while `rules` (a hash of the
    diagnosis rules) and `sources` (the SHA-256 of each file they were made from, None for
    an absent one) still match."""

    rules: str
    sources: dict[str, str | None]
    findings: list[SavedFinding]
