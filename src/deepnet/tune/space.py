"""tune.space against a spec: checking every path and bound before any trial, sampling a
point with Optuna, and applying it to the spec the way `--set` does."""

from __future__ import annotations

import json
from typing import Any

from deepnet.core.errors import SpecError, listing
from deepnet.spec import Distribution, Spec, get_path

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
        try:
            get_path(base, path, Spec)
        except SpecError as e:
            problems.append(f"tune.space[{path!r}]: {e}")
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
        raise SpecError(listing(problems, "in tune.space"))


def _candidates(dist: Distribution) -> list[Any]:
    return list(dist.choice) if dist.kind == "choice" else list(dist.bounds)


def apply_values(base: dict, values: dict[str, Any]) -> Spec:
    """The spec `base` (a spec dict, not changed) with each path set to its value the
    way `--set` does, validated."""
    return Spec.from_dict(base, changes=values, source="tune trial")


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
