"""tune.space against a spec: checking every path and bound before any trial, sampling a
point with Optuna, and applying it to the spec the way `--set` does."""

from __future__ import annotations

import copy
import json
from typing import Any

from deepnet.core.errors import SpecError, did_you_mean
from deepnet.spec import Distribution, Spec, apply_override, format_path, parse_path

SCALARS = (type(None), bool, int, float, str)


def check_space(spec: Spec) -> None:
    """SpecError naming each `tune.space` path that does not exist in `spec`, or whose
    bounds or choices the spec refuses (all problems together)."""
    example = "add e.g. `tune: {trials: 20, space: {train.optimizer.lr: {loguniform: " \
        "[1.0e-4, 1.0e-1]}}}`"
    if spec.tune is None:
        raise SpecError(f"the spec has no tune section; {example}")
    if not spec.tune.space:
        raise SpecError(f"the spec has no tune.space to search; {example}")
    base = spec.to_dict()
    problems = []
    for path, dist in spec.tune.space.items():
        missing = _missing(base, parse_path(path))
        if missing:
            problems.append(f"tune.space[{path!r}]: {missing}")
            continue
        for value in _candidates(dist):
            try:
                apply_values(base, {path: value})
            except SpecError as e:
                reason = "; ".join(line.strip() for line in str(e).splitlines()[1:]) or str(e)
                problems.append(f"tune.space[{path!r}]: the value {value!r} is refused by the "
                                f"spec: {reason}")
                break
    if problems:
        raise SpecError(f"{len(problems)} problem{'s' * (len(problems) > 1)} in tune.space:\n  "
                        + "\n  ".join(problems))


def _missing(base: dict, parts: list[str | int]) -> str | None:
    """Why the path does not exist in the resolved spec `base` (every default filled in)."""
    node: Any = base
    for i, part in enumerate(parts):
        here = format_path(parts[: i + 1])
        if isinstance(part, int):
            if not isinstance(node, list):
                return f"{format_path(parts[:i])} is not a list in this spec"
            if not -len(node) <= part < len(node):
                return (f"{here} does not exist in this spec: "
                        f"{format_path(parts[:i])} has {len(node)} items")
            node = node[part]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            where = format_path(parts[:i])
            if isinstance(node, dict) and len(node) == 1 and isinstance(parts[i - 1], int):
                hint = f" ({where} is a {next(iter(node))} layer)"
            elif node is None:
                hint = f" ({where} is null; write it out in the spec first)"
            elif not isinstance(node, dict):
                hint = f" ({where} is the value {node!r})"
            else:
                hint = f"{did_you_mean(part, list(node))}; keys there: {', '.join(node)}"
            return f"{here} does not exist in this spec{hint}"
    return None


def _candidates(dist: Distribution) -> list[Any]:
    return list(dist.choice) if dist.kind == "choice" else list(dist.bounds)


def apply_values(base: dict, values: dict[str, Any]) -> Spec:
    """The spec `base` (a spec dict) with each path set to its value, validated."""
    raw = copy.deepcopy(base)
    for path, value in values.items():
        apply_override(raw, f"{path}=null")  # the --set machinery makes the path
        parts = parse_path(path)
        node: Any = raw
        for part in parts[:-1]:
            node = node[part]
        node[parts[-1]] = copy.deepcopy(value)
    return Spec.from_dict(raw, source="tune trial")


def label(choice: Any) -> Any:
    """What Optuna records for a choice: scalars as they are, lists and mappings as JSON."""
    return choice if isinstance(choice, SCALARS) else json.dumps(choice, sort_keys=True)


def suggest(trial, path: str, dist: Distribution) -> Any:
    """Sample `dist` for `trial` under the name `path`; the value to put in the spec."""
    if dist.kind == "loguniform":
        return trial.suggest_float(path, *dist.loguniform, log=True)
    if dist.kind == "uniform":
        return trial.suggest_float(path, *dist.uniform)
    if dist.kind == "int":
        return trial.suggest_int(path, *dist.integer, log=dist.log)
    labels = [label(c) for c in dist.choice]
    return dist.choice[labels.index(trial.suggest_categorical(path, labels))]


def decode(params: dict[str, Any], space: dict[str, Distribution]) -> dict[str, Any]:
    """Optuna's params as spec values (a choice of lists or mappings back from JSON)."""
    out = {}
    order = [p for p in space if p in params] + [p for p in params if p not in space]
    for path, value in ((p, params[p]) for p in order):
        dist = space.get(path)
        if dist is not None and dist.kind == "choice":
            found = [c for c in dist.choice if label(c) == value]
            value = found[0] if found else (json.loads(value) if isinstance(value, str)
                                            and value[:1] in "[{" else value)
        out[path] = value
    return out
