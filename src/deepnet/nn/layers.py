"""The layer registry: every layer type by name (a deepnet.nn.layer_type.LayerType: its
arguments, builder, cost model and summary row), and the model of a spec layer item
`{type: args}` made from it. The types are defined by family; a new family's TYPES join
the registry here.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Tag,
    ValidationError,
    create_model,
)

from deepnet.core.registry import Registry
from deepnet.nn import (
    affine,
    attention,
    containers,
    elementwise,
    inputs,
    pooling,
    recurrent,
    shaping,
    spectral,
)
from deepnet.nn.layer_type import Args, LayerType

LAYERS: Registry[LayerType] = Registry("layer type", {
    **affine.TYPES, **pooling.TYPES, **shaping.TYPES, **recurrent.TYPES, **attention.TYPES,
    **elementwise.TYPES, **containers.TYPES, **inputs.TYPES, **spectral.TYPES,
})


# ----------------------------------------------------------------------------- the spec item
def layer_name(item: Any) -> str | None:
    """The layer type of one `{type: args}` item, or None when it is not of that form."""
    if isinstance(item, dict) and len(item) == 1:
        return str(next(iter(item)))
    if isinstance(item, BaseModel):
        return next(iter(type(item).model_fields))
    return None


def _item_model(name: str, registered: bool = False) -> type[BaseModel]:
    """The model of a `{name: args}` item; a global of this module by its class name, so
    that a spec (and an estimator holding one) can be pickled. A type registered from
    Python gets a name no built-in type can have."""
    model = create_model(
        f"Registered_{name}_Layer" if registered else f"{name.title()}Layer",
        __config__=ConfigDict(extra="forbid", frozen=True),
        __module__=__name__,
        **{name: (LAYERS[name].args, ...)},
    )
    globals()[model.__name__] = model
    return model


ITEM_MODELS = {name: _item_model(name) for name in LAYERS if not LAYERS[name].internal}
BUILT_IN = frozenset(LAYERS)
REGISTERED = "<registered>"  # the union's tag of the layer types registered from Python


def _tag(item: Any) -> str | None:
    """The union's tag of an item: its layer type when built in, REGISTERED for one
    registered from Python (validated by _registered_item), else the unknown name."""
    name = layer_name(item)
    return REGISTERED if name not in BUILT_IN and name in ITEM_MODELS else name


def _registered_item(value: Any) -> BaseModel:
    """An item of a layer type registered from Python, validated by its own model (the
    union of the built-in ones was fixed at import)."""
    if isinstance(value, BaseModel):
        return value
    name = layer_name(value)
    if name not in ITEM_MODELS:  # unregistered meanwhile
        raise ValueError(LAYERS.unknown(name))
    try:
        return ITEM_MODELS[name].model_validate(value)
    except ValidationError as e:
        raise ValueError("; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors())
        ) from None


LayerItem = Annotated[
    Union[(*(Annotated[m, Tag(n)] for n, m in ITEM_MODELS.items()),  # noqa: UP007
           Annotated[Any, AfterValidator(_registered_item), Tag(REGISTERED)])],
    Discriminator(_tag),
]


def register_layer(name: str, kind: LayerType) -> None:
    """Add a layer type (deepnet.nn.custom.custom_type) to LAYERS and the spec's items
    (its name checked by deepnet.extend)."""
    LAYERS.register(name)(kind)
    ITEM_MODELS[name] = _item_model(name, registered=True)


def unregister_layer(name: str) -> None:
    """Undo register_layer (a built-in layer type cannot be removed)."""
    if name in BUILT_IN:
        raise ValueError(f"layer type {name!r} is built in and cannot be removed")
    LAYERS.remove(name)
    globals().pop(ITEM_MODELS.pop(name).__name__, None)

for _args in (containers.ResidualArgs, containers.RepeatArgs):  # their layers are items
    _args.model_rebuild(_types_namespace={"LayerItem": LayerItem})
for _m in ITEM_MODELS.values():
    _m.model_rebuild()


def spec_layer_types() -> Registry[LayerType]:
    """The layer types a spec may name: LAYERS without those only the builder makes."""
    return Registry("layer type", {n: LAYERS[n] for n in LAYERS if not LAYERS[n].internal})


def item_parts(item: BaseModel) -> tuple[str, Args]:
    """(type name, arguments) of a validated layer item."""
    name = layer_name(item)
    return name, getattr(item, name)
