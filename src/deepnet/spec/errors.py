"""One error for every problem pydantic finds in a spec, each with its path."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from deepnet.core.errors import did_you_mean, listing
from deepnet.core.schema import one_key
from deepnet.nn.layers import LAYERS, REGISTERED, spec_layer_types
from deepnet.spec.paths import format_path
from deepnet.spec.schema import keys_at


def _clean_loc(loc: tuple) -> list[str | int]:
    """Drop pydantic's internal steps (union tags repeated, validator names)."""
    out: list[str | int] = []
    for part in loc:
        if isinstance(part, str) and ("[" in part or "-" in part):
            continue  # e.g. 'function-before[...]', 'tagged-union[...]'
        if out and part == out[-1] and isinstance(part, str) and part in LAYERS:
            continue  # the discriminated union repeats the layer type as its tag
        if part == REGISTERED:
            continue  # the tag of the layer types registered in Python
        out.append(part)
    return out


def _describe(err: Any, root: type[BaseModel]) -> str:
    kind, value = err["type"], err.get("input")
    loc = _clean_loc(err["loc"])
    if kind == "extra_forbidden":
        key = loc[-1]
        valid = sorted(keys_at(root, loc[:-1]))
        hint = did_you_mean(str(key), valid)
        return f"unknown key {key!r}{hint}; valid keys here: {', '.join(valid)}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):  # a layer item's one key
        try:
            one_key(value, spec_layer_types(), "`- dense: {units: 64}`")
        except ValueError as e:
            return str(e)
    if kind == "missing":
        return "required key is missing"
    msg = err["msg"].removeprefix("Value error, ")
    msg = msg[0].lower() + msg[1:] if msg else msg
    if kind == "value_error" or isinstance(value, dict | list) or value is None:
        return msg
    return f"{msg}; got {value!r}"


def format_errors(e: ValidationError, source: str, root: type[BaseModel]) -> str:
    """'{source}: N problems in the spec:' and a line per problem, paths from `root`
    (the model that was validated: the Spec, or one attack's arguments)."""
    lines = [f"{format_path(_clean_loc(err['loc'])) or '(top level)'}: {_describe(err, root)}"
             for err in e.errors()]
    return f"{source}: " + listing(list(dict.fromkeys(lines)), "in the spec")
