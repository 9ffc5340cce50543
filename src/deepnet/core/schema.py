"""The building blocks of the spec's schema that every layer declares its arguments with:
number types, `Section` (a part of the spec whose scalar alone is its main argument),
`registered(REGISTRY)` (a name its registry checks) and the items that are a mapping with
exactly one key (`- rotate: 10`, `- pgd: {eps: 0.1}`): `one_key` checks one, `one_of`
makes the model of such items from a registry."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    create_model,
    model_serializer,
    model_validator,
)

from deepnet.core.registry import Registry

Fraction = Annotated[float, Field(ge=0, lt=1)]
PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
NonNegative = Annotated[float, Field(ge=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]

# The config of every model of the spec: unknown keys are errors, and so are non-finite
# numbers (.inf, .nan, 1e999: no setting takes one, and JSON cannot hold one).
STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)


def registered(registry: Registry) -> Any:
    """The type of a name of `registry`: a str that the registry checks, so a misspelt
    name is refused with did-you-mean and the valid names."""
    return Annotated[str, AfterValidator(registry.check)]


class Section(BaseModel):
    """A part of the spec. Unknown keys are errors; a scalar alone gives the main key
    (`optimizer: adam` is `optimizer: {name: adam}`)."""

    model_config = STRICT
    main: ClassVar[str | None] = None

    @model_validator(mode="before")
    @classmethod
    def _main_argument(cls, value: Any) -> Any:
        if cls.main is not None and not isinstance(value, dict | BaseModel):
            return {cls.main: value}
        return value


def one_key(value: Any, names: Registry, example: str, also: tuple[str, ...] = ()) -> str:
    """The key of `value`, a mapping with exactly one key registered in `names` (and any
    of the keys `also`); a ValueError that says what is wrong otherwise."""
    kind = names.kind
    if not isinstance(value, Mapping):
        article = "an" if kind[0] in "aeiou" else "a"
        raise ValueError(f"{article} {kind} is a mapping with one of {', '.join(names)}, e.g. "
                         f"{example}; got {value!r}")
    unknown = [k for k in value if k not in names and k not in also]
    if unknown:
        raise ValueError(f"{names.unknown(unknown[0])} (e.g. {example})")
    given = [k for k in value if k in names]
    if len(given) != 1:
        raise ValueError(f"each {kind} is exactly one of {', '.join(names)}, e.g. {example}; "
                         f"got {given or 'none'}")
    return given[0]


class OneOf(BaseModel):
    """An item that is one registered name mapped to its value (`- rotate: 10`): one
    optional field per name, exactly one of them given. Made by `one_of`."""

    model_config = STRICT
    registry: ClassVar[Registry]
    example: ClassVar[str]

    @classmethod
    def _item(cls, value: Any) -> Any:
        """The raw item as a mapping (a subclass may accept shorter forms)."""
        return value

    @model_validator(mode="before")
    @classmethod
    def _exactly_one(cls, value: Any) -> Any:
        if isinstance(value, BaseModel):
            return value
        value = cls._item(value)
        key = one_key(value, cls.registry, cls.example)
        return {key: value[key]}

    @model_serializer
    def _only_the_one(self) -> dict[str, Any]:
        return {self.kind: self.value}

    @property
    def kind(self) -> str:
        """The registered name this item gives."""
        return next(k for k in self.registry if getattr(self, k) is not None)

    @property
    def value(self) -> Any:
        return getattr(self, self.kind)


def one_of(name: str, registry: Registry, value_type: Callable[[Any], Any], example: str,
           base: type[OneOf] = OneOf, doc: str | None = None) -> type[OneOf]:
    """The model of items `{name: value}` with a name of `registry`; `value_type(entry)`
    is the type of each registered entry's value."""
    fields: dict[str, Any] = {n: (value_type(entry) | None, None)
                              for n, entry in registry.items()}
    model = create_model(name, __base__=base, __doc__=doc, **fields)
    model.registry = registry
    model.example = example
    return model
