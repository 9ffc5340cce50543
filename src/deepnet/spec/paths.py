"""Spec paths: 'model.layers[0].dense.units' read, written, looked up and set in a spec's
plain data. The one way a value is set at a path, for `--set`, diagnose remedies and
tune trials: missing mappings are created, and a main argument written alone is expanded
(`dropout: 0.3` becomes `{rate: 0.3}`, `residual: [...]` becomes `{layers: [...]}`) so
that a path in the canonical form goes inside."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from deepnet.core.errors import SpecError, did_you_mean
from deepnet.spec.loading import load_yaml
from deepnet.spec.schema import main_at, models_at

Parts = list[str | int]
_TOKEN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)|\[(-?\d+)\]")


def parse_path(path: str) -> Parts:
    """'model.layers[0].dense.units' -> ['model', 'layers', 0, 'dense', 'units']."""
    parts: Parts = []
    for piece in path.split("."):
        if not piece:
            raise SpecError(f"invalid spec path {path!r}: empty part", path=path)
        pos = 0
        for m in _TOKEN.finditer(piece):
            if m.start() != pos:
                break
            parts.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
            pos = m.end()
        if pos != len(piece):
            raise SpecError(f"invalid spec path {path!r}; expected keys and list indices like "
                            "model.layers[0].dense.units", path=path)
    return parts


def format_path(parts: Iterable[str | int]) -> str:
    """['model', 'layers', 0] -> 'model.layers[0]'."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _parts(path: str | Sequence[str | int]) -> Parts:
    return parse_path(path) if isinstance(path, str) else list(path)


def _item_noun(root: type[BaseModel] | None, loc: Parts) -> str:
    """What a one-key item at `loc` is: 'layer', or its registry's kind ('attack')."""
    found = models_at(root, loc) if root is not None else ()
    registry = getattr(found[0], "registry", None) if len(found) == 1 else None
    return registry.kind if registry is not None else "layer"


def _absent(node: Any, parts: Parts, i: int, root: type[BaseModel] | None) -> SpecError:
    """The error for parts[i], which `node` (the value at parts[:i]) does not have."""
    here, where = format_path(parts[: i + 1]), format_path(parts[:i]) or "the spec"
    if isinstance(parts[i], int):
        if not isinstance(node, list):
            return SpecError(f"{here} does not exist: {where} is not a list in this spec",
                             path=here)
        return SpecError(f"{here} does not exist in this spec: index out of range ({where} "
                         f"has {len(node)} items)", path=here)
    if isinstance(node, dict) and len(node) == 1 and i and isinstance(parts[i - 1], int):
        hint = f" ({where} is a {next(iter(node))} {_item_noun(root, parts[:i])})"
    elif node is None:
        hint = f" ({where} is null; write it out in the spec first)"
    elif isinstance(node, list):
        hint = f" ({where} is a list; give an index, e.g. {where}[0])"
    elif not isinstance(node, dict):
        hint = f" ({where} is the value {node!r})"
    else:
        hint = f"{did_you_mean(str(parts[i]), list(node))}; keys there: {', '.join(node)}"
    return SpecError(f"{here} does not exist in this spec{hint}", path=here)


def _has(node: Any, part: str | int) -> bool:
    if isinstance(part, int):
        return isinstance(node, list) and -len(node) <= part < len(node)
    return isinstance(node, dict) and part in node


def get_path(raw: Any, path: str | Sequence[str | int],
             root: type[BaseModel] | None = None) -> Any:
    """The value at `path` in the spec data `raw`; a SpecError (with `.path`) saying
    where the path stops existing and why. `root` (the Spec class) names the items."""
    parts, node = _parts(path), raw
    for i, part in enumerate(parts):
        if not _has(node, part):
            raise _absent(node, parts, i, root)
        node = node[part]
    return node


def _expand(value: Any, loc: Parts, root: type[BaseModel] | None) -> dict:
    """A null, a scalar or a list on the way to a deeper key, as a mapping: {} or its
    main argument written out (`dropout: 0.3` -> `{rate: 0.3}`, `residual: [...]` ->
    `{layers: [...]}`, `model: [...]` -> `{layers: [...]}`): the canonical form that
    `deepnet summary --json` and a saved spec.yaml show, so each of their paths can be set."""
    if value is None:
        return {}
    main = main_at(root, loc) if root is not None else None
    if main is None:
        here = format_path(loc)
        raise SpecError(f"{here} is the value {value!r}, not a mapping of keys", path=here)
    return {main: value}


def set_path(raw: Any, path: str | Sequence[str | int], value: Any,
             root: type[BaseModel] | None = None) -> None:
    """Set `path` to `value` in the spec data `raw`, in place: missing mappings are made
    on the way, and a scalar there is expanded by its main argument in the schema of
    `root` (the Spec class). List indices must exist."""
    parts, node = _parts(path), raw
    for i, part in enumerate(parts):
        if isinstance(part, str) and isinstance(node, dict) and part not in node:
            node[part] = {}
        if not _has(node, part):
            raise _absent(node, parts, i, root)
        if i == len(parts) - 1:
            node[part] = value
        elif not isinstance(node[part], dict | list) or (
                isinstance(node[part], list) and isinstance(parts[i + 1], str)
                and root is not None and main_at(root, parts[: i + 1]) is not None):
            node[part] = _expand(node[part], parts[: i + 1], root)
        node = node[part]


def apply_changes(raw: Any, changes: Mapping[str, Any],
                  root: type[BaseModel] | None = None) -> Any:
    """A copy of the spec data `raw` with each `{path: value}` of `changes` set."""
    out = copy.deepcopy(raw)
    for path, value in changes.items():
        set_path(out, path, copy.deepcopy(value), root)
    return out


def parse_override(text: str) -> tuple[str, Any]:
    """`key=value` (`--set`) -> (path, value read as YAML)."""
    key, sep, value = text.partition("=")
    if not sep:
        raise SpecError(f"--set {text!r}: expected key=value, e.g. train.optimizer.lr=0.01")
    key = key.strip()
    try:
        parse_path(key)
    except SpecError as e:
        raise SpecError(f"--set {text!r}: {e}", path=e.path) from None
    return key, load_yaml(value, f"--set {key}")


def differences(old: Any, new: Any, loc: Parts | None = None) -> list[str]:
    """The spec paths at which two plain (JSON-like) values differ, e.g. a spec's to_dict()
    before and after an edit: ['model.layers[1].dense.units']."""
    loc = loc or []
    if isinstance(old, dict) and isinstance(new, dict):
        return [d for k in sorted({*old, *new}, key=str)
                for d in differences(old.get(k), new.get(k), [*loc, k])]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [d for i, (a, b) in enumerate(zip(old, new, strict=True))
                for d in differences(a, b, [*loc, i])]
    return [] if old == new else [format_path(loc) or "the spec"]
