"""The whole spec: `Spec.from_yaml(path, overrides)`, `Spec.from_dict(raw, changes=...)`,
`spec.to_yaml()`. The sections are in deepnet.spec.data, .train, .robust and .tune;
`model` and `tune` are here, since tune.space is checked against the Spec's schema."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import Field, ValidationError, field_validator

from deepnet.core.errors import DeepnetError, SpecError, did_you_mean
from deepnet.core.io import write_text_atomic
from deepnet.core.schema import PositiveInt, Section
from deepnet.core.units import parse_size
from deepnet.nn.layers import LayerItem
from deepnet.spec.data import Data
from deepnet.spec.errors import format_errors
from deepnet.spec.loading import load_yaml
from deepnet.spec.paths import apply_changes, format_path, parse_override, parse_path
from deepnet.spec.robust import Robust
from deepnet.spec.schema import keys_at, models_at
from deepnet.spec.train import Train
from deepnet.spec.tune import Distribution, Pruner


class Model(Section):
    main: ClassVar[str] = "layers"
    layers: list[LayerItem] = Field(min_length=1)


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


class Spec(Section):
    """A whole deepnet spec. `Spec.from_yaml(path, overrides)`; `spec.to_yaml()`."""

    name: str = "deepnet"
    seed: Annotated[int, Field(ge=0)] = 0
    task: Literal["classification", "regression"] | None = None
    data: Data
    model: Model
    train: Train = Train()
    tune: Tune | None = None
    robust: Robust | None = None

    @classmethod
    def from_dict(cls, raw: Any, overrides: list[str] | tuple[str, ...] = (), *,
                  changes: Mapping[str, Any] | None = None, source: str = "spec") -> Spec:
        """Validate a spec from plain data (not changed), after applying the `key=value`
        overrides (`--set`) and then the `{path: value}` changes (deepnet.spec.paths)."""
        if not isinstance(raw, dict):
            raise SpecError(f"{source}: a spec is a mapping of keys (name, data, model, ...); "
                            f"got {type(raw).__name__}")
        steps = [(f"--set {o}", dict([parse_override(o)])) for o in overrides]
        for origin, change in [*steps, (source, changes or {})]:
            try:
                raw = apply_changes(raw, change, cls)
            except SpecError as e:
                raise SpecError(f"{origin}: {e}", path=e.path) from None
        try:
            return cls.model_validate(raw)
        except ValidationError as e:
            raise SpecError(format_errors(e, source, cls)) from None

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Spec:
        """Load, override and validate a YAML spec; SpecError lists every problem."""
        path = Path(path)
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise SpecError(f"spec file {str(path)!r} not found") from None
        except (OSError, UnicodeDecodeError) as e:
            raise SpecError(f"cannot read spec file {str(path)!r}: {e}") from None
        return cls.from_dict(load_yaml(text, str(path)), overrides, source=str(path))

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_yaml(self, path: str | Path | None = None) -> str:
        """The resolved spec, every default filled in; written to `path` when given."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            write_text_atomic(path, text)
        return text
