"""YAML text read for the spec: a spec file, or the value of a `--set key=value`."""

from __future__ import annotations

from typing import Any

import yaml

from deepnet.core.errors import SpecError


def load_yaml(text: str, source: str) -> Any:
    """The data of YAML `text`; SpecError naming `source` and the place of a syntax error."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise SpecError(f"{source}: invalid YAML{where}: {problem}") from None
