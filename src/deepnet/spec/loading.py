"""YAML text read for the spec: a spec file, or the value of a `--set key=value`.

Stricter than yaml.safe_load: a key given twice in one mapping is refused (YAML says keys
are unique; PyYAML would keep the last silently), and so is nesting deeper than
MAX_DEPTH levels (PyYAML composes recursively: a few thousand levels of `[[[...]]]`
would end in a RecursionError)."""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError

from deepnet.core.errors import SpecError

MAX_DEPTH = 64  # levels of nesting in a spec: the top mapping is 1, its values 2, ...


class _SpecLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses duplicate keys and nesting deeper than MAX_DEPTH."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent, index):
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels",
                                    self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_mapping(self, node, deep=False):
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *base` merges, and keys given beside it override
            key = self.construct_object(key_node, deep=True)
            try:
                line = first.get(key)
            except TypeError:  # an unhashable key: the constructor refuses it below
                continue
            if line is not None:
                raise ConstructorError(None, None, f"duplicate key {key!r} (first given at "
                                       f"line {line}); give each key once",
                                       key_node.start_mark)
            first[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


def load_yaml(text: str, source: str) -> Any:
    """The data of YAML `text`; SpecError naming `source` and the place of a syntax error,
    a duplicate key or too deep a nesting."""
    loader = _SpecLoader(text)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise SpecError(f"{source}: invalid YAML{where}: {problem}") from None
    finally:
        loader.dispose()
