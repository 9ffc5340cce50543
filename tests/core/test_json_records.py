"""JsonRecord: dataclasses to and from JSON, verified field by field."""

import json
import math
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


@dataclass
class Scores(JsonRecord):
    test: dict[str, float] = field(default_factory=dict)
    curve: list[tuple[float, float]] = field(default_factory=list)
    seconds: float | None = None


def test_non_finite_numbers_round_trip_through_strict_json(tmp_path):
    from deepnet.core.io import write_json_atomic

    scores = Scores({"loss": math.nan, "accuracy": 0.5}, [(0.1, math.inf), (0.2, -math.inf)])
    write_json_atomic(tmp_path / "s.json", scores.to_json())
    text = (tmp_path / "s.json").read_text()
    data = json.loads(text, parse_constant=lambda token: pytest.fail(f"bare {token}"))
    assert data["test"] == {"loss": None, "accuracy": 0.5}
    back = Scores.from_json(data)
    assert math.isnan(back.test["loss"]) and back.test["accuracy"] == 0.5
    assert back.curve == [(0.1, math.inf), (0.2, -math.inf)]


def test_a_null_that_no_note_explains_is_still_refused():
    with pytest.raises(ValueError, match=r"^test\.loss: Input should be a valid number"):
        Scores.from_json({"test": {"loss": None}})
    with pytest.raises(ValueError, match="^non_finite: '/test/accuracy'"):
        Scores.from_json({"test": {"accuracy": 1.0}, "non_finite": {"/test/accuracy": "NaN"}})
