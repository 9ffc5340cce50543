"""The layer registry: every layer type by name (a deepnet.nn.layer_type.LayerType: its
arguments, builder, cost model and summary row), and the model of a spec layer item
`{type: args}` made from it. The types are defined by family; a new family's TYPES join
the registry here.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Tag, create_model

from deepnet.core.registry import Registry
from deepnet.nn import affine, attention, containers, elementwise, pooling, recurrent, shaping
from deepnet.nn.layer_type import Args, LayerType

LAYERS: Registry[LayerType] = Registry("layer type", {
    **affine.TYPES, **pooling.TYPES, **shaping.TYPES, **recurrent.TYPES, **attention.TYPES,
    **elementwise.TYPES, **containers.TYPES,
})


# ----------------------------------------------------------------------------- the spec item
def layer_name(item: Any) -> str | None:
    """The layer type of one `{type: args}` item, or None when it is not of that form."""
    if isinstance(item, dict) and len(item) == 1:
        return str(next(iter(item)))
    if isinstance(item, BaseModel):
        return next(iter(type(item).model_fields))
    return None


def _item_model(name: str) -> type[BaseModel]:
    model = create_model(
        f"{name.title()}Layer",
        __config__=ConfigDict(extra="forbid", frozen=True),
        **{name: (LAYERS[name].args, ...)},
    )
    return model


ITEM_MODELS = {name: _item_model(name) for name in LAYERS}

LayerItem = Annotated[
    Union[tuple(Annotated[m, Tag(n)] for n, m in ITEM_MODELS.items())],  # noqa: UP007
    Discriminator(layer_name),
]

for _args in (containers.ResidualArgs, containers.RepeatArgs):  # their layers are items
    _args.model_rebuild(_types_namespace={"LayerItem": LayerItem})
for _m in ITEM_MODELS.values():
    _m.model_rebuild()


def item_parts(item: BaseModel) -> tuple[str, Args]:
    """(type name, arguments) of a validated layer item."""
    name = layer_name(item)
    return name, getattr(item, name)
