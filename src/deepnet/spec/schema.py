"""The spec's schema read as a tree of pydantic model classes: which models, keys and
main argument a spec path leads to (for paths, error messages and tune.space)."""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import BaseModel


def candidates(annotation: Any) -> tuple[type[BaseModel], ...]:
    """The model classes a field's annotation can hold, through Optional, lists, tuples,
    Annotated and unions (the layer items: one model per layer type)."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return candidates(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType, list, tuple):
        found = (c for arg in typing.get_args(annotation) for c in candidates(arg))
        return tuple(dict.fromkeys(found))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return (annotation,)
    return ()


def models_at(root: type[BaseModel], loc: Sequence[str | int]) -> tuple[type[BaseModel], ...]:
    """The model classes a spec path leads to from `root` (a list index keeps the item
    type); () past a leaf or an unknown key."""
    found: tuple[type[BaseModel], ...] = (root,)
    for part in loc:
        if isinstance(part, int):
            continue
        having = [c for c in found if part in c.model_fields]
        if not having:
            return ()
        found = candidates(having[0].model_fields[part].annotation)
    return found


def keys_at(root: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The keys the spec allows at a path: a section's fields, or the layer types."""
    return list(dict.fromkeys(k for c in models_at(root, loc) for k in c.model_fields))


def main_at(root: type[BaseModel], loc: Sequence[str | int]) -> str | None:
    """The main argument of the section at a path, which a scalar alone gives
    (`dropout: 0.3` is `dropout: {rate: 0.3}`); None when it has none."""
    found = models_at(root, loc)
    return getattr(found[0], "main", None) if len(found) == 1 else None
