"""The spec: pydantic models of ARCHITECTURE.md §1, YAML loading, `--set` overrides, and
one aggregated error that names every problem with its path."""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from deepnet.core.errors import SpecError, did_you_mean
from deepnet.nn.layers import ITEM_MODELS, LAYERS, LayerItem

Fraction = Annotated[float, Field(ge=0, lt=1)]
PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
NonNegative = Annotated[float, Field(ge=0)]


class Section(BaseModel):
    """A part of the spec. Unknown keys are errors; a scalar alone gives the main key
    (`optimizer: adam` is `optimizer: {name: adam}`)."""

    model_config = ConfigDict(extra="forbid")
    main: ClassVar[str | None] = None

    @model_validator(mode="before")
    @classmethod
    def _main_argument(cls, value: Any) -> Any:
        if cls.main is not None and not isinstance(value, dict | BaseModel):
            return {cls.main: value}
        return value


# ----------------------------------------------------------------------------- data
class Split(Section):
    val: Fraction = 0.15
    test: Fraction = 0.15

    @model_validator(mode="after")
    def _leaves_training_data(self) -> Split:
        if self.val + self.test >= 1:
            raise ValueError(f"val + test must be below 1 to leave training data; got {self}")
        return self


AUGMENTS = ("rotate", "scale", "crop", "noise", "flip")


class Augment(Section):
    """One augmentation: exactly one of its keys (`- rotate: 10`)."""

    rotate: NonNegative | None = None  # degrees, uniform in [-rotate, rotate]
    scale: tuple[PositiveFloat, PositiveFloat] | None = None  # zoom range
    crop: Annotated[int, Field(ge=0)] | None = None  # random shift, pixels
    noise: NonNegative | None = None  # gaussian std, in raw input units
    flip: Literal["horizontal", "vertical", "both"] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Augment:
        given = [k for k in AUGMENTS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"each augmentation is one of {', '.join(AUGMENTS)}, e.g. `- rotate: 10`; "
                f"got {given or 'none'}"
            )
        return self

    @model_serializer
    def _only_the_one(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in AUGMENTS if getattr(self, k) is not None}

    @property
    def kind(self) -> str:
        return next(iter(self._only_the_one()))


class Synthetic(Section):
    """Settings of `source: synthetic`: seeded data for tests and examples."""

    main: ClassVar[str] = "kind"
    kind: Literal["classification", "regression", "sequence"] = "classification"
    samples: Annotated[int, Field(ge=2)] = 1000
    features: PositiveInt = 8
    classes: Annotated[int, Field(ge=2)] = 2  # classification and sequence
    noise: NonNegative = 0.1
    steps: PositiveInt = 20  # sequence: time steps per sample


class Text(Section):
    """A text table: the column of text, tokenised into padded word ids (0 pads, 1 is
    an unknown word); the vocabulary is fitted on the training split only."""

    main: ClassVar[str] = "column"
    column: str = "text"
    max_len: PositiveInt = 64  # tokens per sample: longer texts are cut, shorter padded
    min_freq: PositiveInt = 1  # rarer training words become the unknown id
    vocab_size: Annotated[int, Field(ge=3)] = 10000  # ids in all, padding and unknown included


class Data(Section):
    main: ClassVar[str] = "source"
    source: str  # a built-in name, synthetic, or a path: .csv/.parquet, .npz, image folder
    target: str | None = None  # a table's target column (default: target or label)
    features: list[str] | None = None  # a table's feature columns (default: all others)
    categorical: dict[str, Literal["onehot", "ordinal"]] = {}  # per-column override
    onehot_max: PositiveInt = 20  # more categories than this: ordinal codes by default
    missing: Literal["error", "drop", "impute"] = "error"
    text: Text | None = None  # set for a text table (`text: review`)
    image_size: PositiveInt | tuple[PositiveInt, PositiveInt] | None = None  # (height, width)
    channels: Literal[1, 3] | None = None  # images: default from the first image
    synthetic: Synthetic = Synthetic()
    stream: bool = False  # read batches from disk with a DataLoader (automatic when large)
    workers: Annotated[int, Field(ge=0)] = 2  # DataLoader worker processes when streaming
    split: Split = Split()
    normalize: Literal["none", "standard", "minmax"] = "standard"
    augment: list[Augment] = []


# ----------------------------------------------------------------------------- model
class Model(Section):
    main: ClassVar[str] = "layers"
    layers: list[LayerItem] = Field(min_length=1)


# ----------------------------------------------------------------------------- train
class Optimizer(Section):
    main: ClassVar[str] = "name"
    name: Literal["sgd", "adam", "adamw", "rmsprop"] = "adam"
    lr: PositiveFloat = 1e-3
    weight_decay: NonNegative = 0.0  # L2
    momentum: NonNegative = 0.0  # sgd, rmsprop
    nesterov: bool = False  # sgd


class Loss(Section):
    main: ClassVar[str] = "name"
    name: Literal["cross_entropy", "binary_cross_entropy", "mse", "mae", "huber"]
    label_smoothing: Fraction = 0.0
    class_weights: Literal["balanced"] | list[PositiveFloat] | None = None
    delta: PositiveFloat = 1.0  # huber


class Schedule(Section):
    main: ClassVar[str] = "name"
    name: Literal["none", "step", "cosine", "onecycle", "plateau"] = "none"
    step_size: PositiveInt = 10  # step: epochs between decays
    gamma: PositiveFloat = 0.1  # step: decay factor
    factor: PositiveFloat = 0.1  # plateau: decay factor
    patience: Annotated[int, Field(ge=0)] = 3  # plateau
    max_lr: PositiveFloat | None = None  # onecycle: default 10 x optimizer.lr


class EarlyStopping(Section):
    main: ClassVar[str] = "monitor"
    monitor: str = "val_loss"
    patience: Annotated[int, Field(ge=0)] = 5
    min_delta: NonNegative = 0.0
    mode: Literal["auto", "min", "max"] = "auto"


class Divergence(Section):
    main: ClassVar[str] = "factor"
    factor: PositiveFloat = 1e3  # stop when a batch loss exceeds factor x the first epoch's


class Train(Section):
    epochs: PositiveInt = 30
    batch_size: PositiveInt = 64
    optimizer: Optimizer = Optimizer()
    l1: NonNegative = 0.0
    loss: Loss | None = None  # default: cross_entropy for classification, mse for regression
    clip_grad_norm: PositiveFloat | None = None
    schedule: Schedule = Schedule()
    early_stopping: EarlyStopping | None = EarlyStopping()
    divergence: Divergence = Divergence()
    metrics: list[str] | None = None  # default by task
    device: str = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    compile: bool = False

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", v):
            raise ValueError(f"device must be auto, cpu, cuda, cuda:N or mps; got {v!r}")
        return v


# ----------------------------------------------------------------------------- tune, robust
DISTRIBUTIONS = ("loguniform", "uniform", "int", "choice")


class Distribution(Section):
    """One entry of `tune.space`: exactly one of `loguniform: [a, b]`, `uniform: [a, b]`,
    `int: [a, b]` (with `log: true` for a log scale) or `choice: [...]`."""

    loguniform: tuple[PositiveFloat, PositiveFloat] | None = None
    uniform: tuple[float, float] | None = None
    integer: tuple[int, int] | None = Field(None, alias="int")
    choice: list[Any] | None = Field(None, min_length=1)
    log: bool = False  # int only

    @model_validator(mode="before")
    @classmethod
    def _a_mapping(cls, value: Any) -> Any:
        example = "e.g. {loguniform: [1.0e-4, 1.0e-1]}, {int: [32, 256], log: true}"
        if not isinstance(value, dict):
            raise ValueError(f"a distribution is a mapping with one of "
                             f"{', '.join(DISTRIBUTIONS)}, {example}; got {value!r}")
        unknown = [k for k in value if k not in (*DISTRIBUTIONS, "log")]
        if unknown:
            raise ValueError(f"unknown distribution {unknown[0]!r}"
                             f"{did_you_mean(str(unknown[0]), DISTRIBUTIONS)}; valid: "
                             f"{', '.join(DISTRIBUTIONS)} ({example})")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Distribution:
        kinds = [k for k in DISTRIBUTIONS if self.get(k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"give exactly one of {', '.join(DISTRIBUTIONS)}; got "
                             f"{kinds or 'none'}")
        low_high = self.bounds
        if low_high is not None and not low_high[0] < low_high[1]:
            raise ValueError(f"{self.kind}: [low, high] needs low < high; got {list(low_high)}")
        if self.log and self.kind != "int":
            raise ValueError("log: true goes with int; for floats use loguniform")
        if self.log and self.integer[0] < 1:
            raise ValueError(f"int with log: true needs low >= 1; got {list(self.integer)}")
        if self.choice is not None:
            keys = [repr(c) for c in self.choice]
            if len(set(keys)) != len(keys):
                raise ValueError(f"choice: the options must differ; got {self.choice}")
        return self

    def get(self, kind: str) -> Any:
        return self.integer if kind == "int" else getattr(self, kind)

    @property
    def kind(self) -> str:
        return next(k for k in DISTRIBUTIONS if self.get(k) is not None)

    @property
    def bounds(self) -> tuple[float, float] | None:
        return None if self.kind == "choice" else tuple(self.get(self.kind))

    @model_serializer
    def _only_the_kind(self) -> dict[str, Any]:
        out: dict[str, Any] = {self.kind: list(self.get(self.kind))}
        return out | ({"log": True} if self.log else {})


class Pruner(Section):
    """Stops unpromising trials early from their per-epoch validation metric."""

    main: ClassVar[str] = "name"
    name: Literal["median", "hyperband", "none"] = "median"
    startup_trials: Annotated[int, Field(ge=0)] = 5  # median: trials run in full first
    warmup_epochs: Annotated[int, Field(ge=0)] = 1  # epochs before a trial can be pruned


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
            from deepnet.core.errors import DeepnetError
            from deepnet.core.units import parse_size

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
        cls = model_at(parts[:i])
        if cls is None:
            return None  # past a leaf or into a free-form mapping: checked on the spec
        valid = list(ITEM_MODELS) if cls in ITEM_MODELS.values() else list(cls.model_fields)
        if part not in valid:
            what = "layer type" if cls in ITEM_MODELS.values() else "key"
            return (f"unknown {what} {part!r} at {format_path(parts[: i + 1])}"
                    f"{did_you_mean(part, valid)}")
    return None


ATTACK_METHODS = ("fgsm", "pgd", "cw", "deepfool")
Target = Annotated[int, Field(ge=0)] | Literal["next", "random", "least_likely"]


class AttackArgs(Section):
    """One attack's settings (`- pgd: {eps: 0.1, steps: 20}`); eps in raw input units.
    cw and deepfool find a minimal perturbation: eps, when given, caps it."""

    main: ClassVar[str] = "eps"
    eps: NonNegative | None = None  # default 0.1 for fgsm and pgd, none for cw and deepfool
    norm: Literal["linf", "l2"] | None = None  # default: linf for fgsm/pgd, l2 for cw/deepfool
    steps: PositiveInt | None = None  # iterations (pgd 20, cw 100, deepfool 50)
    restarts: PositiveInt = 1  # pgd: random restarts, the strongest kept per example
    alpha: PositiveFloat | None = None  # pgd: step size (default 2.5 eps / steps)
    random_start: bool = True  # pgd
    loss: Literal["ce", "margin"] = "ce"  # fgsm, pgd: cross-entropy or the logit margin (CW)
    targeted: bool = False
    target: Target = "next"  # a class number, next ((y + 1) mod classes), random, least_likely
    c: PositiveFloat = 1.0  # cw: weight of the classification term
    kappa: NonNegative = 0.0  # cw: confidence margin
    lr: PositiveFloat = 0.1  # cw: Adam step size (in tanh space)
    overshoot: NonNegative = 0.02  # deepfool
    curve: list[NonNegative] | None = None  # eps values of the accuracy-vs-eps curve


class Attack(Section):
    """One attack of `robust.attacks`: exactly one method mapped to its settings."""

    fgsm: AttackArgs | None = None
    pgd: AttackArgs | None = None
    cw: AttackArgs | None = None
    deepfool: AttackArgs | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_name(cls, value: Any) -> Any:
        if isinstance(value, str):  # `- pgd` alone takes the defaults
            return {value: {}}
        if isinstance(value, dict):
            return {k: ({} if v is None else v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Attack:
        given = [k for k in ATTACK_METHODS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"each attack is one of {', '.join(ATTACK_METHODS)}, e.g. "
                             f"`- pgd: {{eps: 0.1}}`; got {given or 'none'}")
        return self

    @model_serializer
    def _only_the_one(self) -> dict[str, Any]:
        return {k: getattr(self, k).model_dump(mode="json") for k in ATTACK_METHODS
                if getattr(self, k) is not None}

    @property
    def method(self) -> str:
        return next(k for k in ATTACK_METHODS if getattr(self, k) is not None)

    @property
    def args(self) -> AttackArgs:
        return getattr(self, self.method)


class AdversarialTraining(Section):
    """Train on adversarial examples made on the fly from each batch (eps in raw units)."""

    main: ClassVar[str] = "eps"
    method: Literal["fgsm", "pgd"] = "fgsm"  # fgsm: fast FGSM with a random start
    eps: PositiveFloat = 0.1
    norm: Literal["linf", "l2"] = "linf"
    steps: PositiveInt = 7  # pgd
    alpha: PositiveFloat | None = None  # step size; default 1.25 eps (fgsm), 2.5 eps/steps (pgd)
    ratio: Annotated[float, Field(ge=0, le=1)] = 1.0  # adversarial share of each batch


class Distillation(Section):
    """Defensive distillation: a teacher trained at temperature T, a student trained on
    its softened probabilities at T, deployed at T = 1."""

    main: ClassVar[str] = "temperature"
    temperature: Annotated[float, Field(ge=1)] = 20.0


class InputTransform(Section):
    """Inputs squeezed before the model (raw space): bit-depth reduction, median smoothing."""

    bit_depth: Annotated[int, Field(ge=1, le=16)] | None = None  # bits per value
    smoothing: Annotated[int, Field(ge=2)] | None = None  # median filter window, pixels

    @model_validator(mode="after")
    def _something(self) -> InputTransform:
        if self.bit_depth is None and self.smoothing is None:
            raise ValueError("give bit_depth (e.g. 4) and/or smoothing (e.g. 2)")
        return self


class Defense(Section):
    adversarial_training: AdversarialTraining | None = None
    distillation: Distillation | None = None
    input_transform: InputTransform | None = None


class Robust(Section):
    attacks: list[Attack] = []  # evaluated after training, into the report
    defense: Defense | None = None
    limit: PositiveInt | None = 1000  # attack at most this many test examples


# ----------------------------------------------------------------------------- the spec
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
    def from_dict(cls, raw: Any, overrides: list[str] | tuple[str, ...] = (), *, source="spec"):
        """Validate a spec from plain data, after applying `key=value` overrides."""
        if not isinstance(raw, dict):
            raise SpecError(f"{source}: a spec is a mapping of keys (name, data, model, ...); "
                            f"got {type(raw).__name__}")
        for override in overrides:
            apply_override(raw, override)
        try:
            return cls.model_validate(raw)
        except ValidationError as e:
            raise SpecError(format_errors(e, source)) from None

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
        return cls.from_dict(_load_yaml(text, str(path)), overrides, source=str(path))

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_yaml(self, path: str | Path | None = None) -> str:
        """The resolved spec, every default filled in; written to `path` when given."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            from deepnet.core.io import write_text_atomic

            write_text_atomic(path, text)
        return text


def _load_yaml(text: str, source: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise SpecError(f"{source}: invalid YAML{where}: {problem}") from None


# ----------------------------------------------------------------------------- paths
_TOKEN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)|\[(-?\d+)\]")


def parse_path(path: str) -> list[str | int]:
    """'model.layers[0].dense.units' -> ['model', 'layers', 0, 'dense', 'units']."""
    parts: list[str | int] = []
    pos = 0
    for piece in path.split("."):
        if not piece:
            raise SpecError(f"invalid spec path {path!r}: empty part")
        pos = 0
        for m in _TOKEN.finditer(piece):
            if m.start() != pos:
                break
            parts.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
            pos = m.end()
        if pos != len(piece):
            raise SpecError(
                f"invalid spec path {path!r}; expected keys and list indices like "
                "model.layers[0].dense.units"
            )
    return parts


def format_path(loc: typing.Iterable[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _unwrap(tp: Any) -> Any:
    """The model class behind an annotation (Optional, list, Annotated), or None."""
    origin = typing.get_origin(tp)
    if origin is Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType, list, tuple):
        for arg in typing.get_args(tp):
            found = _unwrap(arg)
            if found is not None:
                return found
        return None
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def model_at(loc: list[str | int]) -> type[BaseModel] | None:
    """The pydantic model class found at a spec path (None past a leaf)."""
    cls: Any = Spec
    for part in loc:
        if cls is None or isinstance(part, int):
            continue  # a list index keeps the item type
        if part in ITEM_MODELS and cls in ITEM_MODELS.values():
            cls = ITEM_MODELS[part]  # the layer type picks the item model
        fields = cls.model_fields
        if part not in fields:
            return None
        cls = _unwrap(fields[part].annotation)
    return cls


def apply_override(raw: dict, override: str) -> None:
    """Apply one `key=value` (value read as YAML) to the raw spec dict in place."""
    key, sep, value = override.partition("=")
    if not sep:
        raise SpecError(f"--set {override!r}: expected key=value, e.g. train.optimizer.lr=0.01")
    parts = parse_path(key.strip())
    new = _load_yaml(value, f"--set {key}")
    node: Any = raw
    for i, part in enumerate(parts[:-1]):
        here = format_path(parts[: i + 1])
        child = _child(node, part, here, create=True)
        if not isinstance(child, dict | list):
            child = _expand_scalar(parts[: i + 1], child, here)
            _put(node, part, child)
        node = child
    _put(node, parts[-1], new, format_path(parts))


def _child(node: Any, part: str | int, here: str, create: bool) -> Any:
    if isinstance(part, int):
        if not isinstance(node, list):
            raise SpecError(f"--set {here}: not a list here")
        if not -len(node) <= part < len(node):
            raise SpecError(f"--set {here}: index out of range (the list has {len(node)} items)")
        return node[part]
    if not isinstance(node, dict):
        raise SpecError(f"--set {here}: not a mapping here")
    if part not in node:
        node[part] = {}
    return node[part]


def _put(node: Any, part: str | int, value: Any, here: str = "") -> None:
    if isinstance(part, int):
        _child(node, part, here, create=False)
    elif not isinstance(node, dict):
        raise SpecError(f"--set {here}: not a mapping here")
    node[part] = value


def _expand_scalar(loc: list[str | int], value: Any, here: str) -> dict:
    """`dropout: 0.3` -> `{rate: 0.3}` so that `--set ...dropout.rate=0.5` can go inside."""
    if isinstance(loc[-1], str) and loc[-1] in LAYERS:
        main = LAYERS[loc[-1]].args.main
    else:
        cls = model_at(loc)
        main = getattr(cls, "main", None)
    if value is None:
        return {}
    if main is None:
        raise SpecError(f"--set {here}: {value!r} is a value, not a mapping of keys")
    return {main: value}


# ----------------------------------------------------------------------------- errors
def _clean_loc(loc: tuple) -> list[str | int]:
    """Drop pydantic's internal steps (union tags repeated, validator names)."""
    out: list[str | int] = []
    for part in loc:
        if isinstance(part, str) and ("[" in part or "-" in part):
            continue  # e.g. 'function-before[...]', 'tagged-union[...]'
        if out and part == out[-1] and isinstance(part, str) and part in LAYERS:
            continue  # the discriminated union repeats the layer type as its tag
        out.append(part)
    return out


def _valid_keys(loc: list[str | int]) -> list[str]:
    cls = model_at(loc[:-1])
    return sorted(cls.model_fields) if cls is not None else []


def _describe(err: dict) -> str:
    kind, value = err["type"], err.get("input")
    loc = _clean_loc(err["loc"])
    if kind == "extra_forbidden":
        key = loc[-1]
        valid = _valid_keys(loc)
        hint = did_you_mean(str(key), valid)
        return f"unknown key {key!r}{hint}; valid keys here: {', '.join(valid)}"
    if kind == "union_tag_invalid":
        tag = err["ctx"]["tag"]
        return (f"unknown layer type {tag!r}{did_you_mean(tag, list(LAYERS))}; "
                f"valid layer types: {', '.join(LAYERS)}")
    if kind == "union_tag_not_found":
        return ("each layer is one layer type mapped to its arguments, e.g. "
                f"`- dense: {{units: 64}}`; got {value!r}")
    if kind == "missing":
        return "required key is missing"
    msg = err["msg"].removeprefix("Value error, ")
    msg = msg[0].lower() + msg[1:] if msg else msg
    if kind == "value_error" or isinstance(value, dict | list) or value is None:
        return msg
    return f"{msg}; got {value!r}"


def format_errors(e: ValidationError, source: str) -> str:
    lines = []
    for err in e.errors():
        loc = _clean_loc(err["loc"])
        lines.append(f"  {format_path(loc) or '(top level)'}: {_describe(err)}")
    lines = list(dict.fromkeys(lines))
    noun = "problem" if len(lines) == 1 else "problems"
    return f"{source}: {len(lines)} {noun} in the spec:\n" + "\n".join(lines)
