"""JsonRecord: dataclasses to and from JSON, verified field by field."""

from dataclasses import dataclass, field

import pytest

from deepnet.core.records import JsonRecord


@dataclass
class Point(JsonRecord):
    x: float
    tags: list[str] = field(default_factory=list)
    span: tuple[int, int] | None = None


def test_to_json_is_plain_json_and_reads_back():
    p = Point(1.5, ["a"], (2, 3))
    assert p.to_json() == {"x": 1.5, "tags": ["a"], "span": [2, 3]}
    assert Point.from_json(p.to_json()) == p
    assert Point.from_json({"x": 2, "newer_key": 1}) == Point(2.0)  # unknown keys ignored


def test_every_problem_is_named_with_what_was_received():
    with pytest.raises(ValueError) as e:
        Point.from_json({"tags": "a", "span": [1, 2, 3]})
    msg = str(e.value)
    assert msg.startswith("x: missing; tags: Input should be a valid list (got 'a'); span:")
    with pytest.raises(ValueError, match="; and 2 more$"):  # the first three, then a count
        _five_problems()
    with pytest.raises(ValueError, match="^the object: "):
        Point.from_json([1, 2])


def _five_problems():
    @dataclass
    class Five(JsonRecord):
        a: int
        b: int
        c: int
        d: int
        e: int

    Five.from_json({})
