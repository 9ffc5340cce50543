"""The whole spec: `Spec.from_yaml(path, overrides)`, `Spec.from_dict(raw, changes=...)`,
`spec.to_yaml()`. The sections are in deepnet.spec.data, .train, .robust and .tune;
`model` and `tune` are here, since tune.space is checked against the Spec's schema."""

from __future__ import annotations

import html
import os
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import AfterValidator, Field, ValidationError, field_validator, model_validator

from deepnet.core.errors import DeepnetError, SpecError, did_you_mean
from deepnet.core.io import write_text_atomic
from deepnet.core.schema import PositiveInt, Section, registered
from deepnet.core.units import parse_size
from deepnet.nn.init import INITS
from deepnet.nn.inputs import MERGES
from deepnet.nn.layers import LayerItem
from deepnet.spec.data import Data
from deepnet.spec.errors import format_errors
from deepnet.spec.loading import MAX_DEPTH, load_yaml
from deepnet.spec.paths import apply_changes, format_path, parse_override, parse_path
from deepnet.spec.robust import Robust
from deepnet.spec.schema import keys_at, models_at
from deepnet.spec.train import Train
from deepnet.spec.tune import Distribution, Pruner

InputName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]

# libyaml's safe dumper where PyYAML has it, 4x faster than yaml.safe_dump: the same data,
# and the same text but for how a long double-quoted string is folded
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class Model(Section):
    """The network: its layers; with `inputs`, several named inputs (each with its own
    layers, possibly none) whose outputs are merged (`merge`) into the `layers`."""

    main: ClassVar[str] = "layers"
    inputs: dict[InputName, list[LayerItem]] | None = None
    merge: Literal[tuple(MERGES)] = "concat"  # type: ignore[valid-type]
    layers: list[LayerItem] = Field(min_length=1)
    # the initialisation of every layer that names none (default: by activation);
    # torch_default is PyTorch's own, as a published PyTorch recipe has it
    init: registered(INITS) | None = None

    @model_validator(mode="after")
    def _merge(self) -> Model:
        if self.inputs is not None and not self.inputs:
            raise ValueError("model.inputs names no input; remove it for one input")
        if self.inputs is not None and self.merge == "dot" and len(self.inputs) != 2:
            raise ValueError(f"merge: dot takes two inputs; model.inputs has "
                             f"{len(self.inputs)} ({', '.join(self.inputs)})")
        return self


class Tune(Section):
    """Hyperparameter search (`deepnet tune`): spec paths mapped to distributions."""

    trials: PositiveInt = 30
    space: dict[str, Distribution] = {}
    metric: str | None = None  # a val metric (accuracy, loss, ...); default: the first metric
    direction: Literal["maximize", "minimize"] | None = None  # default: from the metric
    pruner: Pruner = Pruner()
    memory_budget: str | int | None = None  # e.g. 2GB: larger trials are pruned, not run

    @field_validator("space")
    @classmethod
    def _paths(cls, space: dict[str, Distribution]) -> dict[str, Distribution]:
        problems = [f"{path!r}: {p}" for path in space if (p := _space_path_problem(path))]
        if problems:
            raise ValueError("not a path of the spec: " + "; ".join(problems))
        return space

    @field_validator("memory_budget")
    @classmethod
    def _size(cls, v: str | int | None) -> str | int | None:
        if v is not None:
            try:
                parse_size(str(v))
            except DeepnetError as e:  # reported with the spec's other problems
                raise ValueError(str(e)) from None
        return v


def _space_path_problem(path: str) -> str | None:
    """Why `path` cannot be a key of the spec's schema, or None. (Whether it exists in a
    given spec, e.g. a layer index, is checked against the spec by deepnet.tune.)"""
    try:
        parts = parse_path(path)
    except SpecError as e:
        return str(e)
    if parts[0] == "tune":
        return "the tune section itself cannot be tuned"
    for i, part in enumerate(parts):
        if isinstance(part, int):
            continue
        found = models_at(Spec, parts[:i])
        if not found:
            return None  # past a leaf or into a free-form mapping: checked on the spec
        valid = keys_at(Spec, parts[:i])
        if part not in valid:
            what = "layer type" if len(found) > 1 else "key"
            return (f"unknown {what} {part!r} at {format_path(parts[: i + 1])}"
                    f"{did_you_mean(part, valid)}")
    return None


MAX_NAME_BYTES = 200  # a folder name holds 255 bytes: room for the run's -<time>-<n>
MAX_INT = 2**63 - 1  # torch's sizes are 64-bit: no key of a spec takes a larger integer
MAX_VALUES = 1_000_000  # values in all: YAML aliases can repeat a part exponentially


def _folder_name(name: str) -> str:
    """The spec's name as it is, when it can name a folder: it becomes runs/<name>-<time>
    and tunes/<name>, so it is one path component that stays where it is put."""
    if (not name.strip() or name in (".", "..") or "/" in name or "\\" in name
            or any(unicodedata.category(c) in ("Cc", "Cs") for c in name)
            or name.startswith("-") or len(name.encode()) > MAX_NAME_BYTES):
        raise ValueError(
            "the name is a folder's (runs/<name>-<time>, tunes/<name>): one folder name, not "
            "empty, '.' or '..', without '/', '\\' or control characters, not starting with "
            f"'-' (read as an option), at most {MAX_NAME_BYTES} bytes, e.g. digits-cnn; "
            f"got {name!r}")
    return name


def _check_plain(raw: Any, source: str) -> None:
    """Refuse spec data that could not be copied or validated: nested deeper than
    MAX_DEPTH levels (or containing itself), integers beyond 64 bits, more than
    MAX_VALUES values. Without recursion, so that nothing is too deep for this check."""
    stack: list[tuple[Any, list[str | int]]] = [(raw, [])]
    for _ in range(MAX_VALUES + 1):
        if not stack:
            return
        value, loc = stack.pop()
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
            here = format_path(loc) or "(top level)"
            raise SpecError(f"{source}: {here}: the integer {value} is out of range: no "
                            f"setting takes one beyond 64 bits (±{MAX_INT})", path=here)
        children = (value.items() if isinstance(value, dict)
                    else enumerate(value) if isinstance(value, list) else ())
        for key, child in children:
            if len(loc) + 1 >= MAX_DEPTH:  # the top level is level 1
                raise SpecError(f"{source}: {format_path(loc[:1])}: nested deeper than "
                                f"{MAX_DEPTH} levels", path=format_path(loc[:1]))
            stack.append((child, [*loc, key]))
    raise SpecError(f"{source}: more than {MAX_VALUES:,} values in the spec (YAML aliases "
                    "that repeat a part over and over?)")


def _with_data(raw: Any) -> Any:
    """A raw spec given data in Python: a data section (`source: memory`) when it has none."""
    if isinstance(raw, dict) and "data" not in raw:
        return {**raw, "data": {"source": "memory"}}
    return raw


class Spec(Section):
    """A whole deepnet spec. `Spec.from_yaml(path, overrides)`; `spec.to_yaml()`.
    The Python API takes one in any of its forms through `Spec.coerce`."""

    name: Annotated[str, AfterValidator(_folder_name)] = "deepnet"
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 0  # numpy and optuna take 32 bits
    task: Literal["classification", "regression", "forecast"] | None = None
    data: Data
    model: Model
    train: Train = Train()
    tune: Tune | None = None
    robust: Robust | None = None
    report: bool = True  # report.html after training (false: the numbers alone, faster)

    @classmethod
    def from_dict(cls, raw: Any, overrides: list[str] | tuple[str, ...] = (), *,
                  changes: Mapping[str, Any] | None = None, source: str = "spec") -> Spec:
        """Validate a spec from plain data (not changed), after applying the `key=value`
        overrides (`--set`) and then the `{path: value}` changes (deepnet.spec.paths)."""
        if not isinstance(raw, dict):
            raise SpecError(f"{source}: a spec is a mapping of keys (name, data, model, ...); "
                            f"got {type(raw).__name__}")
        _check_plain(raw, source)
        steps = [(f"--set {o}", dict([parse_override(o)])) for o in overrides]
        for origin, change in [*steps, (source, changes or {})]:
            _check_plain(change, origin)
            try:
                raw = apply_changes(raw, change, cls)
            except SpecError as e:
                raise SpecError(f"{origin}: {e}", path=e.path) from None
        try:
            return cls.model_validate(raw)
        except ValidationError as e:
            raise SpecError(format_errors(e, source, cls)) from None

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: list[str] | tuple[str, ...] = (), *,
                  data_given: bool = False) -> Spec:
        """Load, override and validate a YAML spec; SpecError lists every problem. With
        `data_given` (data passed in Python) the file may leave out its data section."""
        path = Path(path)
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise SpecError(f"spec file {str(path)!r} not found") from None
        except (OSError, UnicodeDecodeError) as e:
            raise SpecError(f"cannot read spec file {str(path)!r}: {e}") from None
        raw = load_yaml(text, str(path))
        return cls.from_dict(_with_data(raw) if data_given else raw, overrides,
                             source=str(path))

    @classmethod
    def coerce(cls, spec: Any, data: Any = None) -> Spec:
        """`spec` as a Spec, as every entry point of the Python API takes it: a Spec as it
        is, a mapping validated (`from_dict`), a str or Path read as a YAML spec file
        (`from_yaml`); a SpecError for anything else (or an invalid spec). With `data`
        passed in Python, a mapping may leave out its data section."""
        if isinstance(spec, cls):
            return spec
        if isinstance(spec, Mapping):
            return cls.from_dict(_with_data(dict(spec)) if data is not None else dict(spec))
        if isinstance(spec, str | os.PathLike):
            return cls.from_yaml(spec, data_given=data is not None)
        raise SpecError(f"spec: expected a deepnet.Spec, a dict of one or the path of a YAML "
                        f"spec file; got {type(spec).__name__} {spec!r:.60}")

    @model_validator(mode="before")
    @classmethod
    def _forecast(cls, raw: Any) -> Any:
        """`task: forecast` is a regression of the next values of a series: it needs
        data.series, and is kept as regression."""
        if isinstance(raw, dict) and raw.get("task") == "forecast":
            data = raw.get("data")
            if not (isinstance(data, dict) and data.get("series") is not None):
                raise ValueError("task: forecast needs data.series (the series to forecast "
                                 "and its window and horizon)")
            return {**raw, "task": "regression"}
        return raw

    @model_validator(mode="before")
    @classmethod
    def _input_columns(cls, raw: Any) -> Any:
        """Each input of model.inputs that data.inputs leaves out takes the column of
        its name (data.inputs.user: [user])."""
        model, data = (raw.get("model"), raw.get("data")) if isinstance(raw, dict) else (0, 0)
        data = {"source": data} if isinstance(data, str) else data  # `data: table.csv`
        if not (isinstance(model, dict) and isinstance(model.get("inputs"), dict)
                and isinstance(data, dict)):
            return raw
        given = data.get("inputs") or {}
        if not isinstance(given, dict):
            return raw
        filled = {**{str(k): [str(k)] for k in model["inputs"]}, **given}
        return {**raw, "data": {**data, "inputs": filled}}

    @model_validator(mode="after")
    def _inputs_match(self) -> Spec:
        mapped, declared = self.data.inputs, self.model.inputs
        if mapped is not None and declared is None:
            raise ValueError(f"data.inputs maps columns to inputs "
                             f"({', '.join(mapped)}), but the model has one input: declare "
                             "them under model.inputs, or remove data.inputs")
        if mapped is not None and declared is not None:
            extra = [n for n in mapped if n not in declared]
            if extra:
                raise ValueError(
                    "data.inputs names " + ", ".join(
                        f"{n!r}{did_you_mean(n, list(declared))}" for n in extra)
                    + f", which model.inputs does not declare (it has "
                    f"{', '.join(map(repr, declared))})")
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def __repr__(self) -> str:
        layers = self.model.layers
        return (f"Spec({self.name!r}, data {self.data.source or 'memory'}, "
                f"{len(layers)} layer{'s' if len(layers) != 1 else ''}, "
                f"{self.train.epochs} epochs, seed {self.seed})")

    def _repr_html_(self) -> str:
        """The spec in a notebook: its YAML, every default filled in."""
        return (f"<div><b>deepnet spec {html.escape(self.name)}</b><pre style='font-size:12px'>"
                f"{html.escape(self.to_yaml())}</pre></div>")

    def to_yaml(self, path: str | Path | None = None) -> str:
        """The resolved spec, every default filled in; written to `path` when given."""
        text = yaml.dump(self.to_dict(), Dumper=DUMPER, sort_keys=False)
        if path is not None:
            write_text_atomic(path, text)
        return text
