"""Records stored as JSON: dataclasses that write themselves as plain JSON objects and
are verified field by field when read back.

    @dataclass
    class Results(JsonRecord):
        test: dict[str, float] = field(default_factory=dict)

    Results.from_json({"test": {"accuracy": 0.9}}).test   # {'accuracy': 0.9}
    Results.from_json({"test": [1]})   # ValueError: test: Input should be a valid dictionary

Keys a record does not know are ignored (a newer file read by older code); a missing key
takes the field's default, and a field without one is required. A NaN or an infinity,
written as null by deepnet.core.io.json_text, is read back as it was.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import TypeAdapter, ValidationError

from deepnet.core.io import restore_non_finite


@functools.cache
def _adapter(cls: type) -> TypeAdapter:
    return TypeAdapter(cls)


def describe(error: ValidationError, limit: int = 3) -> str:
    """'field.sub: problem (got value); ...' for the first `limit` problems."""
    parts = []
    for e in error.errors()[:limit]:
        where = ".".join(str(p) for p in e["loc"]) or "the object"
        if e["type"] == "missing":
            parts.append(f"{where}: missing")
            continue
        got = repr(e["input"])
        parts.append(f"{where}: {e['msg']} (got {got[:60] + '...' if len(got) > 60 else got})")
    more = error.error_count() - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


class JsonRecord:
    """Mixin for a dataclass: `to_json()` is a JSON-ready dict (tuples become lists),
    `from_json(d)` the record again, or a ValueError naming each field that is wrong."""

    def to_json(self) -> dict[str, Any]:
        return _adapter(type(self)).dump_python(self, mode="json")

    @classmethod
    def from_json(cls, d: Any):
        try:
            return _adapter(cls).validate_python(restore_non_finite(d))
        except ValidationError as e:
            raise ValueError(describe(e)) from None
